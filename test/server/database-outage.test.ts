import { insertFixture } from '../support/fixtures.ts';
import { canRunOwnPostgres, ownPostgres, type OwnPostgres } from '../support/own-postgres.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const maybe = canRunOwnPostgres() ? describe : describe.skip;

// The test's own PostgreSQL cluster is stopped under the server and started again.
maybe('a database outage', () => {
  let pg: OwnPostgres;
  let server: TestServer;

  beforeAll(async () => {
    pg = await ownPostgres();
    server = await startTestServer('sqlite', 'db-outage', { databaseUrl: pg.url });
    await insertFixture(server.app.orm, { authors: 1, booksPerAuthor: 2, reviewsPerBook: 0 });
  }, 60_000);
  afterAll(async () => {
    await server.close().catch(() => {});
    pg.dispose();
  });

  it('answers SERVICE_UNAVAILABLE without internals, reports not ready, and recovers by itself', async () => {
    // Uncached reads need the database: a new author list page and an unknown book.
    const QUERY = '{ authors(first: 3) { totalCount } }';
    expect((await server.gql(QUERY)).data).toEqual({ authors: { totalCount: 1 } });

    pg.stop();
    const started = performance.now();
    const down = await server.gql('{ books(first: 7) { totalCount } }');
    expect(performance.now() - started).toBeLessThan(5000); // fails fast, does not hang
    expect(down.status).toBe(200);
    expect(down.errors?.map((e) => e.extensions?.code)).toEqual(['SERVICE_UNAVAILABLE']);
    expect(down.errors![0]!.message).toBe('The database is unavailable; try again shortly');
    expect(JSON.stringify(down)).not.toMatch(/stack|ECONNREFUSED|at .*\.js/);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(503);
    // A mutation is refused the same way, and writes nothing.
    const write = await server.gql('mutation { createAuthor(input: { name: "Nobody" }) { id } }');
    expect(write.errors?.map((e) => e.extensions?.code)).toEqual(['SERVICE_UNAVAILABLE']);

    pg.start();
    let healthy = false;
    for (let i = 0; i < 100 && !healthy; i++) {
      healthy = (await fetch(`${server.url}/healthz`)).status === 200;
      if (!healthy) await sleep(100);
    }
    expect(healthy).toBe(true);
    expect((await server.gql('{ books(first: 7) { totalCount } authors { totalCount } }')).data)
      .toEqual({ books: { totalCount: 2 }, authors: { totalCount: 1 } });
  }, 60_000);
});
