import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { testDrivers, createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startServerProcess } from '../support/server-process.ts';
import { postGraphQL, unlinkTestKeys } from '../support/test-server.ts';

const PREFIX = `t.main.${randomBytes(4).toString('hex')}`;
const start = (db: TestDatabase) =>
  startServerProcess({ DATABASE_URL: db.url, SEED_DEMO: 'on', CACHE_PREFIX: `${PREFIX}.${randomBytes(4).toString('hex')}` });

afterAll(() => unlinkTestKeys(`${PREFIX}.`));

describe.each(testDrivers())('the server process on %s', (driver) => {
  let db: TestDatabase;
  beforeAll(async () => { db = await createTestDatabase(driver, `main-${driver}`); });
  afterAll(() => db.drop());

  it('migrates an empty database, seeds the demo catalog, serves, and exits cleanly on SIGTERM', async () => {
    const server = await start(db);
    const { url } = server;
    const health = await fetch(`${url}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    const res = await postGraphQL(url, '{ books(first: 1) { totalCount } authors { totalCount } }');
    expect(res.data).toEqual({ books: { totalCount: 50 }, authors: { totalCount: 10 } });

    expect(await server.stop()).toBe(0); // SIGTERM
    expect(server.output()).toContain('shutting down');
  }, 60_000);

  it('does not seed again on the next start, and stops on SIGINT too', async () => {
    const server = await start(db);
    const { url } = server;
    const res = await postGraphQL(url, '{ books(first: 1) { totalCount } }');
    expect(res.data.books.totalCount).toBe(50);
    const exited = once(server.child, 'exit');
    server.child.kill('SIGINT');
    expect((await exited)[0]).toBe(0);
  }, 60_000);
});
