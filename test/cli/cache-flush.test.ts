import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openOrm } from '../../src/orm/open-orm.ts';
import { insertFixture } from '../support/fixtures.ts';
import { startTestServer, TEST_REDIS_URL, type TestServer } from '../support/test-server.ts';

const run = promisify(execFile);

// An operator's way to repair what no feed could see (a write to the SQLite file by another
// program): one epoch bump, announced to every running server over pub/sub.
describe('npm run cache:flush', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', 'flush');
    await insertFixture(server.app.orm, { authors: 2, booksPerAuthor: 2, reviewsPerBook: 0 });
  });
  afterAll(() => server.close());

  it('makes a running server stop serving what it cached before, without scanning or deleting', async () => {
    const QUERY = '{ books { totalCount edges { node { title } } } }';
    await server.gql(QUERY);
    server.counters.reset();
    await server.gql(QUERY);
    expect(server.counters.statements()).toEqual([]); // warm

    // A write the server cannot see: plain SQL on the same file from another connection (the
    // server's SQLite change capture lives on its own connection only).
    const other = await openOrm({ databaseUrl: server.db.url });
    await other.em.fork().execute("UPDATE book SET title = 'Changed behind its back' WHERE id = 1");
    await other.close();
    expect((await server.gql(QUERY)).data.books.edges.at(-1).node.title).toBe('Book 1.1'); // stale, as documented
    const keysBefore = (await server.keys()).length;

    const { stdout } = await run(process.execPath, ['src/cli/cache-flush.ts'], {
      env: { ...process.env, REDIS_URL: TEST_REDIS_URL, CACHE_PREFIX: server.prefix, NODE_OPTIONS: '' },
    });
    const { epoch } = JSON.parse(stdout);
    expect(epoch).toBeGreaterThan(0);
    // The announcement arrives over pub/sub within milliseconds.
    for (let i = 0; i < 50 && server.app.cache.epoch.current() < epoch; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.app.cache.epoch.current()).toBe(epoch);
    expect((await server.keys()).length).toBeGreaterThanOrEqual(keysBefore); // nothing was deleted

    server.counters.reset();
    const fresh = await server.gql(QUERY);
    expect(fresh.data.books.edges.at(-1).node.title).toBe('Changed behind its back');
    expect(server.counters.statements().length).toBeGreaterThan(0);
  });
});
