import { openCacheRuntime } from '../cache/cache-runtime.ts';
import { readConfig } from '../server/config.ts';

/**
 * `npm run cache:flush`: retires everything cached, for every server sharing REDIS_URL and
 * CACHE_PREFIX, with one INCR of the epoch (announced over pub/sub; servers also re-read it every
 * few seconds). Nothing is scanned or deleted: old entries expire by their TTL.
 * Use it after writing to an SQLite database from another program, whose writes no server can see.
 */
const config = readConfig();
const cache = await openCacheRuntime({ enabled: true, redisUrl: config.redisUrl, prefix: config.cachePrefix });
try {
  const epoch = await cache.epoch.bump();
  console.log(JSON.stringify({ prefix: config.cachePrefix, epoch }));
} catch (error) {
  console.error(`cache:flush: Redis at ${config.redisUrl} is unreachable: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await cache.close();
}
