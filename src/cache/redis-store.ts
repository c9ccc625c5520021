import type { Redis } from 'ioredis';
import type { CacheEntry, CacheStore } from './cache-store.ts';
import type { StoreObserver, StoreOperation } from './store-observer.ts';

/**
 * CacheStore on one ioredis connection. Each method is exactly one round trip (a single command or
 * one pipeline), which is what the per-request round-trip budget in the tests counts.
 */
export function createRedisStore(redis: Redis, observer: StoreObserver = {}): CacheStore {
  async function timed<T>(operation: StoreOperation, commands: number, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await run();
    } catch (error) {
      observer.failure?.(operation, error);
      throw error;
    } finally {
      observer.roundTrip?.(operation, commands, performance.now() - started);
    }
  }

  async function execPipeline(operation: StoreOperation, build: (p: ReturnType<Redis['pipeline']>) => number) {
    const pipeline = redis.pipeline();
    const commands = build(pipeline);
    if (commands === 0) return;
    await timed(operation, commands, async () => {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0];
    });
  }

  return {
    async getMany(keys) {
      if (keys.length === 0) return [];
      try {
        return await timed('getMany', 1, () => redis.mget(...keys));
      } catch {
        return keys.map(() => null);
      }
    },

    async setMany(entries: readonly CacheEntry[]) {
      try {
        await execPipeline('setMany', (p) => {
          let n = 0;
          for (const { key, value, ttlSeconds } of entries) {
            if (ttlSeconds > 0) { p.set(key, value, 'EX', ttlSeconds); n++; }
          }
          return n;
        });
      } catch {
        // A dropped fill costs one later miss, never a failed request.
      }
    },

    async invalidate(deleteKeys, bumpKeys) {
      await execPipeline('invalidate', (p) => {
        if (deleteKeys.length > 0) p.del(...deleteKeys);
        for (const key of bumpKeys) p.incr(key);
        return (deleteKeys.length > 0 ? 1 : 0) + bumpKeys.length;
      });
    },

    async readCounter(key) {
      try {
        const raw = await timed('readCounter', 1, () => redis.get(key));
        return raw === null ? null : Number(raw);
      } catch {
        return null;
      }
    },

    increment: (key) => timed('increment', 1, () => redis.incr(key)),
  };
}
