import type { CacheStore } from './cache-store.ts';
import { createEpoch, type Epoch } from './epoch.ts';
import { createInvalidator, type Invalidator, type InvalidatorObserver } from './invalidator.ts';
import { createKeyspace, epochChannel, epochKey, invalidatedChannel, type Keyspace } from './keyspace.ts';
import { createLocalTier, type LocalTier, type LocalTierObserver, type LocalTierOptions } from './local-tier.ts';
import { createFastConnection, type FastConnection } from './fast-connection.ts';
import { createNullStore } from './null-store.ts';
import { COMMAND_TIMEOUT_MS, connectQuietly, createRedisClient, isClusterUrl, subscriberFor, type RedisClient } from './redis-client.ts';
import { createRedisStore } from './redis-store.ts';
import { gateStore } from './gated-store.ts';
import { createRedisBreaker, type BreakerOptions } from './redis-breaker.ts';
import type { StoreObserver } from './store-observer.ts';
import { watchInvalidations } from './watch-invalidations.ts';

export interface CacheRuntimeOptions {
  /** false: no Redis at all (every read misses, invalidations are no-ops). */
  readonly enabled: boolean;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly store?: StoreObserver;
  readonly invalidator?: InvalidatorObserver;
  readonly breaker?: BreakerOptions;
  /** Called when lost invalidations were repaired by an epoch bump. */
  readonly onRepaired?: (epoch: number) => void;
  /** How often the epoch is re-read in case an announcement was missed (ms). */
  readonly epochRefreshMs?: number;
  /** Open the second connection for the requests' commands (fast-connection.ts); single Redis only. */
  readonly fastConnection?: boolean;
  /** An in-process LRU in front of Redis (see local-tier.ts); absent or max 0: none. */
  readonly localTier?: { readonly max: number; readonly ttlMs: number; readonly observer?: LocalTierObserver; readonly session?: LocalTierOptions['session'] };
}

/** Everything a process needs to read through and invalidate the shared cache. */
export interface CacheRuntime {
  readonly redis: RedisClient | null;
  /** A second connection for the requests' commands (fast-connection.ts); null unless asked for, without Redis or on a cluster. */
  readonly fastConnection: FastConnection | null;
  readonly store: CacheStore;
  readonly epoch: Epoch;
  readonly keyspace: Keyspace;
  readonly invalidator: Invalidator;
  /** The in-process tier, when configured. */
  readonly localTier: LocalTier | null;
  /** Whether the cache is in use now (false while Redis is away or a repair is pending). */
  usable(): boolean;
  close(): Promise<void>;
}

/**
 * Wires the cache for a server or a job. Redis being down is not an error: the store answers
 * misses and the client keeps reconnecting in the background.
 */
export async function openCacheRuntime(options: CacheRuntimeOptions): Promise<CacheRuntime> {
  const redis = options.enabled ? createRedisClient(options.redisUrl) : null;
  if (redis) {
    redis.on('error', () => {}); // failures surface through the store observer, per operation
    await connectQuietly(redis);
  }
  const fastConnection = redis && options.fastConnection && !isClusterUrl(options.redisUrl)
    ? createFastConnection(options.redisUrl, { timeoutMs: COMMAND_TIMEOUT_MS })
    : null;
  // Until an epoch bump has retired what may be stale, this process must not read the cache.
  let repairPending = false;
  const breaker = createRedisBreaker(options.breaker);
  const raw = redis ? createRedisStore(redis, options.store, breaker, fastConnection) : createNullStore();
  // Behind the gate: while a repair is pending or Redis is away, the tier is not even asked.
  const tierOptions = options.localTier;
  const localTier = redis && tierOptions && tierOptions.max > 0
    ? createLocalTier(raw, { ...tierOptions, prefix: options.prefix, epoch: () => epoch.current() })
    : null;
  const usable = () => !repairPending && redis?.status === 'ready';
  const store = redis ? gateStore(localTier ?? raw, usable) : raw;
  const channel = epochChannel(options.prefix);
  // The last announcement, awaited by close(): a Cluster auto-pipelines it to the next tick, where
  // a quit() issued meanwhile would refuse it (`cache:flush` bumps and closes at once).
  let announced: Promise<unknown> = Promise.resolve();
  const epoch = createEpoch(store, epochKey(options.prefix), (value) => {
    announced = redis?.publish(channel, String(value)).catch(() => {}) ?? announced; // the periodic refresh is the backstop
  });
  await epoch.refresh();
  const watcher = redis ? await watchEpoch(redis, channel, epoch, options.epochRefreshMs ?? 5000) : null;
  const tierWatcher = redis && localTier ? await watchInvalidations(redis, invalidatedChannel(options.prefix), localTier) : null;
  const keyspace = createKeyspace(options.prefix, epoch.current);
  const invalidator = createInvalidator(store, keyspace, {
    ...options.invalidator,
    lost(evictions, error) {
      repairPending = true;
      options.invalidator?.lost?.(evictions, error);
      void repair();
    },
  }, { key: epochKey(options.prefix), current: epoch.current, adopt: epoch.adopt }, redis ? gateStore(raw, usable) : raw);

  // Repair: one INCR of the epoch (announced to the other processes) retires everything this
  // process may have failed to invalidate; retried until Redis answers.
  let repairing = false;
  let retry: NodeJS.Timeout | undefined;
  async function repair(): Promise<void> {
    if (repairing || !repairPending || redis?.status !== 'ready') return;
    repairing = true;
    clearTimeout(retry);
    try {
      await epoch.bump();
      repairPending = false;
      options.onRepaired?.(epoch.current());
    } catch {
      retry = setTimeout(() => void repair(), 1000).unref(); // still unreachable: try again
    } finally {
      repairing = false;
    }
  }
  redis?.on('ready', () => void repair());
  return {
    redis, fastConnection, store, epoch, keyspace, invalidator, localTier,
    usable: () => !repairPending && (redis === null || redis.status === 'ready'),
    async close() {
      clearTimeout(retry);
      breaker.shutdown();
      if (!redis) return;
      watcher?.stop();
      await fastConnection?.close();
      await announced;
      await tierWatcher?.stop();
      try {
        await redis.quit(); // lets pending invalidations finish
      } catch {
        redis.disconnect();
      }
    },
  };
}

/**
 * Keeps this process's epoch current: announcements of bumps arrive over pub/sub (milliseconds);
 * after the subscription reconnects, and every `refreshMs` in any case, the epoch is re-read, which
 * bounds how long a missed announcement can matter.
 */
async function watchEpoch(redis: RedisClient, channel: string, epoch: Epoch, refreshMs: number): Promise<{ stop(): void }> {
  const subscriber = subscriberFor(redis); // resubscribed below, on every 'ready'
  subscriber.on('error', () => {});
  subscriber.on('message', (_channel: string, message: string) => epoch.adopt(Number(message)));
  // Subscribing on every 'ready', not only once: a subscription that failed (Redis down at start,
  // no offline queue) is never retried by ioredis, which resubscribes only what had succeeded.
  const subscribe = () => subscriber.subscribe(channel).catch(() => {});
  subscriber.on('ready', () => {
    void subscribe();
    void epoch.refresh();
  });
  if (await connectQuietly(subscriber)) await subscribe();
  const timer = setInterval(() => void epoch.refresh(), refreshMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      subscriber.disconnect();
    },
  };
}
