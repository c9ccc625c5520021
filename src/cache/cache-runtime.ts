import type { Redis } from 'ioredis';
import type { CacheStore } from './cache-store.ts';
import { createEpoch, type Epoch } from './epoch.ts';
import { createInvalidator, type Invalidator, type InvalidatorObserver } from './invalidator.ts';
import { createKeyspace, epochChannel, epochKey, type Keyspace } from './keyspace.ts';
import { createNullStore } from './null-store.ts';
import { connectQuietly, createRedisClient } from './redis-client.ts';
import { createRedisStore } from './redis-store.ts';
import type { StoreObserver } from './store-observer.ts';

export interface CacheRuntimeOptions {
  /** false: no Redis at all (every read misses, invalidations are no-ops). */
  readonly enabled: boolean;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly store?: StoreObserver;
  readonly invalidator?: InvalidatorObserver;
  /** How often the epoch is re-read in case an announcement was missed (ms). */
  readonly epochRefreshMs?: number;
}

/** Everything a process needs to read through and invalidate the shared cache. */
export interface CacheRuntime {
  readonly redis: Redis | null;
  readonly store: CacheStore;
  readonly epoch: Epoch;
  readonly keyspace: Keyspace;
  readonly invalidator: Invalidator;
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
  const store = redis ? createRedisStore(redis, options.store) : createNullStore();
  const channel = epochChannel(options.prefix);
  const epoch = createEpoch(store, epochKey(options.prefix), (value) => {
    redis?.publish(channel, String(value)).catch(() => {}); // the periodic refresh is the backstop
  });
  await epoch.refresh();
  const watcher = redis ? await watchEpoch(redis, channel, epoch, options.epochRefreshMs ?? 5000) : null;
  const keyspace = createKeyspace(options.prefix, epoch.current);
  const invalidator = createInvalidator(store, keyspace, options.invalidator);
  return {
    redis, store, epoch, keyspace, invalidator,
    async close() {
      if (!redis) return;
      watcher?.stop();
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
async function watchEpoch(redis: Redis, channel: string, epoch: Epoch, refreshMs: number): Promise<{ stop(): void }> {
  const subscriber = redis.duplicate();
  subscriber.on('error', () => {});
  subscriber.on('message', (_channel: string, message: string) => epoch.adopt(Number(message)));
  subscriber.on('ready', () => void epoch.refresh());
  try {
    await subscriber.connect();
    await subscriber.subscribe(channel);
  } catch {
    // Redis is down: ioredis resubscribes on reconnect, and the 'ready' refresh catches up.
  }
  const timer = setInterval(() => void epoch.refresh(), refreshMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      subscriber.disconnect();
    },
  };
}
