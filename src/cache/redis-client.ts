import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * A connection to one Redis or to a Redis Cluster. The rest of the cache is written against what
 * both share; the few places that must know (multi-key commands, see cluster-commands.ts) ask
 * `isCluster`.
 */
export type RedisClient = Redis | Cluster;

/** The scheme naming a cluster: `redis+cluster://[user:password@]host:port,host:port,…` (any reachable nodes). */
const CLUSTER_SCHEME = /^redis\+cluster:\/\//i;

/** How long a command may wait for Redis's answer before it fails (and the read goes to the database). */
export const COMMAND_TIMEOUT_MS = 250;

/** How long connecting may take before it counts as a failure (and is retried with `backoff`). */
export const CONNECT_TIMEOUT_MS = 1000;

/** Fail-fast settings shared by a single connection and every node connection of a cluster. */
const FAIL_FAST = { commandTimeout: COMMAND_TIMEOUT_MS, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0 } as const;
/** Reconnection delay after the n-th failed attempt: doubling from 50 ms, capped at 2 s. */
export const backoff = (attempt: number) => Math.min(50 * 2 ** attempt, 2000);

/**
 * A second connection like `redis`, for SUBSCRIBE. ioredis' own resubscription is off: it sends
 * SUBSCRIBE after a reconnect without handling its failure, and with no offline queue a connection
 * that drops again at once rejects it — an unhandled rejection. Callers subscribe on every 'ready'.
 * No auto-pipelining: its few commands (the tier's barrier PING, one in flight at most) would each
 * pay for a pipeline of their own.
 */
export function subscriberFor(redis: RedisClient, options: { lazyConnect?: boolean } = {}): RedisClient {
  return redis instanceof Cluster
    ? redis.duplicate([], { ...options, redisOptions: { ...redis.options.redisOptions, autoResubscribe: false } })
    : redis.duplicate({ ...options, autoResubscribe: false, enableAutoPipelining: false });
}

export function isClusterUrl(url: string): boolean {
  return CLUSTER_SCHEME.test(url);
}

/**
 * A Redis connection tuned for a cache that must fail fast: a command waits at most
 * `commandTimeout`, is never queued while disconnected (no offline queue) and is not retried, so
 * an outage turns into immediate misses instead of stalled requests. Reconnection continues in the
 * background with a capped backoff. A `redis+cluster://` URL gives a Cluster with the same settings.
 */
export function createRedisClient(url: string, overrides: RedisOptions = {}): RedisClient {
  if (isClusterUrl(url)) return createClusterClient(url, overrides);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`REDIS_URL must be a redis:// URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`REDIS_URL must be a redis://, rediss:// or redis+cluster:// URL, got ${JSON.stringify(url)}`);
  }
  return new Redis(url, {
    ...FAIL_FAST,
    enableOfflineQueue: false,
    lazyConnect: true,
    // Commands that concurrent requests issue in one tick leave as one socket write (and come back
    // in one read): on a busy server the system calls, not Redis, are what a lookup costs most.
    enableAutoPipelining: true,
    retryStrategy: backoff,
    ...overrides,
  });
}

/** `redis+cluster://[user:password@]h:p,h:p` → startup nodes and credentials. */
export function parseClusterUrl(url: string): { nodes: { host: string; port: number }[]; username?: string; password?: string } {
  const rest = url.replace(CLUSTER_SCHEME, '').replace(/\/.*$/, '');
  const at = rest.lastIndexOf('@');
  const credentials = at >= 0 ? rest.slice(0, at) : '';
  const colon = credentials.indexOf(':'); // as in a URL: user:password, :password or user
  const username = colon >= 0 ? credentials.slice(0, colon) : credentials;
  const password = colon >= 0 ? credentials.slice(colon + 1) : '';
  const nodes = (at >= 0 ? rest.slice(at + 1) : rest).split(',').filter(Boolean).map((node) => {
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(node.trim());
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) {
      throw new TypeError(`REDIS_URL: cluster node must be host:port, got ${JSON.stringify(node)} in ${JSON.stringify(url)}`);
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
  if (nodes.length === 0) throw new TypeError(`REDIS_URL names no cluster node: ${JSON.stringify(url)}`);
  return {
    nodes,
    username: username ? decodeURIComponent(username) : undefined,
    password: password ? decodeURIComponent(password) : undefined,
  };
}

function createClusterClient(url: string, overrides: RedisOptions): Cluster {
  const { nodes, username, password } = parseClusterUrl(url);
  const { retryStrategy: _ignored, enableOfflineQueue: _alsoIgnored, ...nodeOverrides } = overrides;
  const options: ClusterOptions = {
    redisOptions: { ...FAIL_FAST, username, password, ...nodeOverrides },
    enableOfflineQueue: false,
    lazyConnect: true,
    // Commands issued in one tick to one node leave as one write: the per-slot commands of a
    // logical operation (cluster-commands.ts) cost one round trip per node, concurrently.
    enableAutoPipelining: true,
    // Replicas lag: a read from one could return a value its master already deleted.
    scaleReads: 'master',
    slotsRefreshTimeout: 500,
    // No CLUSTER INFO check before 'ready': when it fails (slower than the command timeout on a
    // busy host, a cluster still forming) ioredis reconnects and the promise connect() returned
    // never settles, which would hang startup. A cluster that is down answers CLUSTERDOWN, which
    // the store handles like any failure (misses; for an invalidation, the gate and an epoch bump).
    enableReadyCheck: false,
    clusterRetryStrategy: backoff,
  };
  return new Cluster(nodes, options);
}

/** Connects, but never fails the caller: the server starts and serves with Redis down. */
export async function connectQuietly(redis: RedisClient): Promise<boolean> {
  try {
    await redis.connect();
    return true;
  } catch {
    return false;
  }
}
