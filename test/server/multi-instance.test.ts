import { randomBytes } from 'node:crypto';
import { openOrm } from '../../src/orm/open-orm.ts';
import { createTestDatabase, testDrivers, type TestDatabase } from '../support/database.ts';
import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { postGraphQL, unlinkTestKeys } from '../support/test-server.ts';

// Several server processes behind a load balancer share one database and one Redis: a mutation
// answered by one is visible in the very next query on any other, with every cache warm.
describe.each(testDrivers())('three server processes on %s', (driver) => {
  let db: TestDatabase;
  const prefix = `t.multi.${randomBytes(4).toString('hex')}`;
  let servers: ServerProcess[];
  beforeAll(async () => {
    db = await createTestDatabase(driver, `multi-${driver}`);
    const orm = await openOrm({ databaseUrl: db.url });
    await insertFixture(orm, { authors: 2, booksPerAuthor: 3, reviewsPerBook: 2 });
    await orm.close();
    const env = { DATABASE_URL: db.url, CACHE_PREFIX: prefix };
    servers = await Promise.all([startServerProcess(env), startServerProcess(env), startServerProcess(env)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await db.drop();
    await unlinkTestKeys(`${prefix}:`);
  });

  const READ = `{ book(id: "${gid('Book', 2)}") { title priceCents reviewCount author { name books { totalCount } } }
    books(first: 3, orderBy: { field: PRICE, direction: ASC }) { edges { node { title } } } }`;

  it('serves each instance\'s writes on every other instance at once', async () => {
    for (const s of servers) await postGraphQL(s.url, READ); // every instance warm
    for (let round = 0; round < 6; round++) {
      const writer = servers[round % 3]!;
      const title = `Round ${round}`;
      const mutation = round % 2 === 0
        ? `mutation { updateBook(id: "${gid('Book', 2)}", input: { title: "${title}", priceCents: ${round} }) { title } }`
        : `mutation { addReview(input: { bookId: "${gid('Book', 2)}", rating: 5 }) { id } }`;
      expect((await postGraphQL(writer.url, mutation)).errors).toBeUndefined();
      const answers = await Promise.all(servers.map((s) => postGraphQL(s.url, READ)));
      const expectedTitle = `Round ${round - (round % 2)}`;
      for (const answer of answers) {
        expect(answer.data.book.title).toBe(expectedTitle);
        expect(answer.data.book.reviewCount).toBe(2 + Math.ceil(round / 2));
        expect(answer.data.books.edges[0].node.title).toBe(expectedTitle); // the cheapest now
      }
    }
  }, 60_000);
});
