import { randomBytes, randomInt } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { createApp, type App, type AppHooks } from '../../src/server/app.ts';
import type { ServerConfig } from '../../src/server/config.ts';
import { DEFAULT_LIMITS } from '../../src/server/query-limits.ts';
import type { StoreOperation } from '../../src/cache/store-observer.ts';
import { isClusterUrl, parseClusterUrl, type RedisClient } from '../../src/cache/redis-client.ts';
import { createTestDatabase, type TestDatabase, type TestDriver } from './database.ts';
import { settleFixturesWith } from './fixtures.ts';

/**
 * The shared Redis, in a logical database of this test file's own (1–15, drawn per file: Jest loads
 * this module once per file). Key prefixes already keep files apart; the database also keeps the
 * tests' key snapshots (SCAN, which walks the whole database) from slowing down with whatever else
 * lives in database 0 — a benchmark's leftovers once made a file take 5× as long. TEST_REDIS_URL,
 * when set, is used as given (a cluster has no databases).
 */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? `redis://127.0.0.1:6379/${1 + randomInt(15)}`;

/** What one or more requests cost: SQL statements and Redis round trips, as the server saw them. */
export class Counters {
  sql: string[] = [];
  roundTrips: { operation: StoreOperation; commands: number }[] = [];
  reset(): void {
    this.sql = [];
    this.roundTrips = [];
  }
  /** SQL statements other than transaction control. */
  statements(): string[] {
    return this.sql.filter((s) => !/^\s*(begin|commit|rollback|savepoint|release)/i.test(s));
  }
  statementsOn(table: string): string[] {
    return this.statements().filter((s) => new RegExp(`\\bfrom [\`"]?${table}[\`"]?\\b`, 'i').test(s));
  }
}

export interface GraphQLResponse<T = any> {
  status: number;
  headers: Headers;
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export interface TestServer {
  readonly url: string;
  readonly app: App;
  readonly db: TestDatabase;
  readonly counters: Counters;
  readonly prefix: string;
  /** A separate Redis connection for inspecting this server's keys (a Cluster when the server uses one). */
  readonly redis: RedisClient;
  gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  /** Waits until the change feed has applied every change committed so far (on PostgreSQL it is asynchronous). */
  settled(): Promise<void>;
  /** This server's Redis keys once the change feed has settled (SCAN over its own prefix: test-only, never in the server). */
  keys(pattern?: string): Promise<string[]>;
  close(): Promise<void>;
}

/** A real server on a fresh database and its own Redis key prefix, so test files run in parallel. */
export async function startTestServer(
  driver: TestDriver, label: string, overrides: Partial<ServerConfig> = {}, extraHooks: Partial<AppHooks> = {},
): Promise<TestServer> {
  const db = await createTestDatabase(driver, label);
  const counters = new Counters();
  const prefix = `t.${label.replace(/[^A-Za-z0-9]/g, '')}.${randomBytes(4).toString('hex')}`;
  const app = await createApp(
    {
      port: 0, host: '127.0.0.1', databaseUrl: db.url, redisUrl: TEST_REDIS_URL, cachePrefix: prefix, cacheEnabled: true, cacheLeases: true, introspection: true,
      // No periodic epoch re-read during a test: its round trip would blur the per-request counts.
      epochRefreshMs: 600_000, limits: DEFAULT_LIMITS, maxBodyBytes: 1_000_000,
      seedDemo: false, logLevel: 'silent', development: false,
      // Off unless a test is about it: the read-path tests count what the resolver path costs.
      responseCache: false,
      // TEST_LOCAL_CACHE_MAX=n runs a suite with the in-process tier on (counts of round trips then differ).
      localCacheMax: Number(process.env.TEST_LOCAL_CACHE_MAX ?? 0), ...overrides,
    },
    {
      onQuery: (sql) => counters.sql.push(sql),
      store: { roundTrip: (operation, commands) => counters.roundTrips.push({ operation, commands }) },
      ...extraHooks,
    },
  );
  const url = await app.listen(0);
  const settled = async () => { await app.changeFeed?.settled(); };
  settleFixturesWith(app.orm, settled);
  // A server on a cluster is inspected on that cluster; any other on the shared Redis (a test that
  // points its server at a Redis of its own may stop that one at any time).
  const redisUrl = overrides.redisUrl ?? TEST_REDIS_URL;
  const redis: RedisClient = isClusterUrl(redisUrl)
    ? new Cluster(parseClusterUrl(redisUrl).nodes, { lazyConnect: true, scaleReads: 'master' })
    : new Redis(TEST_REDIS_URL, { lazyConnect: true });
  await redis.connect();

  /** This server's keys matching `pattern` (SCAN over its own prefix: on a cluster, every master's). */
  async function scan(pattern: string): Promise<string[]> {
    const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
    return (await Promise.all(nodes.map((node) => scanMatching(node, `${prefix}:${pattern}`)))).flat().sort();
  }

  const server: TestServer = {
    url, app, db, counters, prefix, redis,
    gql: (query, variables) => postGraphQL(url, query, variables),
    settled,
    async keys(pattern = '*') {
      // On PostgreSQL the change feed repeats each write's invalidation asynchronously: a snapshot
      // taken before it lands would count the earlier write's tombstones as added later.
      await settled();
      return scan(pattern);
    },
    async close() {
      // The app first: a fill or the change feed may still write while it drains.
      await app.close();
      const keys = await scan('*');
      // One DEL per key on a cluster (a DEL may not span slots).
      if (redis instanceof Cluster) await Promise.all(keys.map((key) => redis.del(key)));
      else if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await db.drop();
    },
  };
  return server;
}

/** Every key of one Redis node matching `match` (SCAN: test-only, never in the server). */
async function scanMatching(node: Redis, match: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}

/** Removes every key under `prefix` from the test Redis (for servers a test started as processes). */
export async function unlinkTestKeys(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await scanMatching(redis, `${prefix}*`);
    for (let i = 0; i < keys.length; i += 1000) await redis.unlink(...keys.slice(i, i + 1000));
  } finally {
    redis.disconnect();
  }
}

export async function postGraphQL<T = any>(url: string, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: GraphQLResponse['errors'] };
  return { status: res.status, headers: res.headers, ...body };
}
