import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openCacheRuntime } from '../cache/cache-runtime.ts';
import { startSqliteChangeCapture } from '../orm/change-feed/sqlite-change-capture.ts';
import { parseDatabaseUrl } from '../orm/database-url.ts';
import { importBooks, parseImportFile } from '../orm/import/import-books.ts';
import { createInvalidationSubscriber } from '../orm/invalidation-subscriber.ts';
import { openOrm } from '../orm/open-orm.ts';
import { readConfig } from '../server/config.ts';

/**
 * `npm run import -- books.json`: upserts books (by isbn) through MikroORM, outside the server.
 * It opens the same cache as the server (REDIS_URL, CACHE_PREFIX) only to register the
 * invalidation subscriber, so a running server serves the imported data on its next request.
 * On SQLite it also captures its own connection's row changes (what the ORM's hooks cannot see);
 * on PostgreSQL the database's triggers publish them to the servers' listeners already.
 */
const { positionals } = parseArgs({ allowPositionals: true, options: {} });
if (positionals.length !== 1) {
  console.error('usage: npm run import -- <file.json>   (format: {"books": [{"isbn", "title", "priceCents", "publishedYear", "author"}]})');
  process.exit(2);
}

let books;
try {
  books = parseImportFile(JSON.parse(readFileSync(positionals[0]!, 'utf8')));
} catch (error) {
  console.error(`import: ${(error as Error).message}`);
  process.exit(2);
}

const config = readConfig();
const cache = await openCacheRuntime({ enabled: config.cacheEnabled, redisUrl: config.redisUrl, prefix: config.cachePrefix });
const orm = await openOrm({ databaseUrl: config.databaseUrl, subscribers: [createInvalidationSubscriber(cache.invalidator)] });
const capture = cache.redis && parseDatabaseUrl(config.databaseUrl).driver === 'sqlite'
  ? await startSqliteChangeCapture({ orm, invalidator: cache.invalidator })
  : null;
try {
  const started = performance.now();
  const result = await importBooks(orm.em.fork(), books);
  console.log(JSON.stringify({ ...result, ms: Math.round(performance.now() - started) }));
} finally {
  await capture?.stop(); // applies what it captured before the connection closes
  await orm.close();
  await cache.close();
}
