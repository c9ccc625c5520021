import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { persistedQueryKey } from '../cache/keyspace.ts';
import type { RedisClient } from '../cache/redis-client.ts';

/** How long a registered query text is kept after its last registration (clients re-register on a miss). */
export const PERSISTED_QUERY_TTL_SECONDS = 24 * 3600;

/**
 * Apollo's automatic persisted queries, kept in the shared Redis so that a hash registered through
 * one server instance is known to all of them — and a GET with only the hash (cacheable by a CDN)
 * works whichever instance answers. Query texts never go stale, so they live outside the epoch.
 * Like every cache here it fails soft: Redis away means "not registered" (the client sends the
 * text again), never a failed request.
 */
export function createPersistedQueryCache(redis: RedisClient, prefix: string): KeyValueCache<string> {
  const key = (k: string) => persistedQueryKey(prefix, k);
  return {
    async get(k) {
      try {
        return (await redis.get(key(k))) ?? undefined;
      } catch {
        return undefined;
      }
    },
    async set(k, value, options) {
      const ttl = options?.ttl ?? PERSISTED_QUERY_TTL_SECONDS;
      try {
        if (ttl === null || ttl <= 0) await redis.set(key(k), value);
        else await redis.set(key(k), value, 'EX', Math.ceil(ttl));
      } catch {
        // not registered: the client will send the query text again
      }
    },
    async delete(k) {
      try {
        return (await redis.del(key(k))) > 0;
      } catch {
        return false;
      }
    },
  };
}
