import { randomBytes } from 'node:crypto';
import { openOrm } from '../../src/orm/open-orm.ts';
import { createTestDatabase, testDrivers, type TestDatabase } from '../support/database.ts';
import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { postGraphQL, unlinkTestKeys } from '../support/test-server.ts';

const CONCURRENCY = 60; // per process

/** Fires the same cold query at both processes at once; returns how many times the database was asked. */
async function stampede(servers: ServerProcess[], query: string, pattern: RegExp): Promise<{ fills: number; titles: Set<string> }> {
  const before = servers.map((s) => s.statements().length);
  const responses = await Promise.all(servers.flatMap((s) => Array.from({ length: CONCURRENCY }, () => postGraphQL(s.url, query))));
  expect(responses.filter((r) => r.errors || r.status !== 200)).toEqual([]);
  await new Promise((r) => setTimeout(r, 100)); // let the last log lines arrive
  const fills = servers.reduce((n, s, i) => n + s.statements().slice(before[i]).filter((sql) => pattern.test(sql)).length, 0);
  return { fills, titles: new Set(responses.map((r) => JSON.stringify(r.data))) };
}

// Many concurrent misses on one hot key, in two server processes sharing Redis and the database.
describe.each(testDrivers())('a thundering herd on %s', (driver) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(driver, `herd-${driver}`);
    const orm = await openOrm({ databaseUrl: db.url });
    await insertFixture(orm, { authors: 2, booksPerAuthor: 3, reviewsPerBook: 1 });
    await orm.close();
  });
  const prefixes: string[] = [];
  afterAll(async () => {
    await db.drop();
    for (const prefix of prefixes) await unlinkTestKeys(`${prefix}:`);
  });

  async function twoServers(leases: boolean): Promise<ServerProcess[]> {
    const prefix = `t.herd.${randomBytes(4).toString('hex')}`;
    prefixes.push(prefix);
    // The whole-response cache off: this is about the loaders' leases, and a stored answer would
    // end a stampede as soon as the first request finished, leases or not.
    const env = { DATABASE_URL: db.url, CACHE_PREFIX: prefix, LOG_LEVEL: 'trace', CACHE_LEASES: leases ? 'on' : 'off', RESPONSE_CACHE: 'off' };
    const servers = await Promise.all([startServerProcess(env), startServerProcess(env)]);
    // A first request warms each process (JIT, connection) so that timing reflects steady state.
    await Promise.all(servers.map((s) => postGraphQL(s.url, `{ book(id: "${gid('Review', 1)}") { id } }`)));
    return servers;
  }

  it(`costs one database fill per hot key across ${2 * CONCURRENCY} requests, where no leases cost many`, async () => {
    const withLeases = await twoServers(true);
    const withoutLeases = await twoServers(false);
    try {
      const entity = await stampede(withLeases, `{ book(id: "${gid('Book', 2)}") { title } }`, /from book where id in/i);
      const page = await stampede(withLeases, '{ books(first: 5) { totalCount edges { node { title } } } }', /row_number|from book\b.*limit/is);
      // One fill each; a waiter reads the database itself only if the filler's lease vanishes unfilled
      // (invalidated, or the filler died: the lease expires after 2 s).
      expect(entity).toMatchObject({ fills: 1, titles: new Set([JSON.stringify({ book: { title: 'Book 1.2' } })]) });
      expect(page.fills).toBe(1);
      expect(page.titles.size).toBe(1);

      const herd = await stampede(withoutLeases, `{ book(id: "${gid('Book', 2)}") { title } }`, /from book where id in/i);
      console.log(`herd: ${entity.fills} database fill(s) with leases, ${herd.fills} without, for ${2 * CONCURRENCY} concurrent requests`);
      expect(herd.fills).toBeGreaterThan(entity.fills);
    } finally {
      await Promise.all([...withLeases, ...withoutLeases].map((s) => s.stop()));
    }
  }, 60_000);
});
