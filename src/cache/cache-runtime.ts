import type { Redis } from 'ioredis';
import type { CacheStore } from './cache-store.ts';
import { createEpoch, type Epoch } from './epoch.ts';
import { createInvalidator, type Invalidator, type InvalidatorObserver } from './invalidator.ts';
import { createKeyspace, epochKey, type Keyspace } from './keyspace.ts';
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
  const epoch = createEpoch(store, epochKey(options.prefix));
  await epoch.refresh();
  const keyspace = createKeyspace(options.prefix, epoch.current);
  const invalidator = createInvalidator(store, keyspace, options.invalidator);
  return {
    redis, store, epoch, keyspace, invalidator,
    async close() {
      if (!redis) return;
      try {
        await redis.quit(); // lets pending invalidations finish
      } catch {
        redis.disconnect();
      }
    },
  };
}
