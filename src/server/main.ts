import { pino } from 'pino';
import { createApp } from './app.ts';
import { readConfig } from './config.ts';
import { ensureGraphiqlAssets } from './graphiql-page.ts';

/** `npm start`: migrate, seed a demo catalog on first start, listen; clean shutdown on SIGINT/SIGTERM. */
const config = readConfig();
const log = pino({ level: config.logLevel });

await ensureGraphiqlAssets();
const app = await createApp(config, { log });
const url = await app.listen(config.port);
log.info({ url: `${url}/graphql`, database: config.databaseUrl ?? 'sqlite (default)', redis: app.cache.redis ? config.redisUrl : 'off' }, 'catalog server ready');

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down: draining requests');
    app.close().then(
      () => process.exit(0),
      (error) => { log.error({ err: error }, 'shutdown failed'); process.exit(1); },
    );
  });
}
