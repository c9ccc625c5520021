import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection tuned for a cache that must fail fast: a command waits at most
 * `commandTimeout`, is never queued while disconnected (no offline queue) and is not retried, so
 * an outage turns into immediate misses instead of stalled requests. Reconnection continues in the
 * background with a capped backoff.
 */
export function createRedisClient(url: string, overrides: RedisOptions = {}): Redis {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`REDIS_URL must be a redis:// URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`REDIS_URL must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  }
  return new Redis(url, {
    commandTimeout: 250,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    ...overrides,
  });
}

/** Connects, but never fails the caller: the server starts and serves with Redis down. */
export async function connectQuietly(redis: Redis): Promise<boolean> {
  try {
    await redis.connect();
    return true;
  } catch {
    return false;
  }
}
