import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testDrivers } from '../support/database.ts';
import { insertFixture } from '../support/fixtures.ts';
import { startTestServer, TEST_REDIS_URL, type TestServer } from '../support/test-server.ts';
import { gid } from '../support/ids.ts';

const run = promisify(execFile);

async function importFile(server: TestServer, content: unknown) {
  const file = join(mkdtempSync(join(tmpdir(), 'cc-import-')), 'books.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return run(process.execPath, ['src/cli/import.ts', file], {
    env: { ...process.env, DATABASE_URL: server.db.url, REDIS_URL: TEST_REDIS_URL, CACHE_PREFIX: server.prefix, NODE_OPTIONS: '' },
  });
}

// The CLI is a separate process writing through MikroORM; the server learns of its writes only
// through the invalidation subscriber the CLI registers on its own ORM.
describe.each(testDrivers())('npm run import against a running server on %s', (driver) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(driver, `import-${driver}`);
    await insertFixture(server.app.orm, { authors: 2, booksPerAuthor: 2, reviewsPerBook: 0 });
  });
  afterAll(() => server.close());

  const QUERY = `{ books(first: 10, orderBy: { field: PRICE, direction: ASC }) { totalCount edges { node { isbn title priceCents author { name books { totalCount } } } } }
    book(id: "${gid('Book', 1)}") { title priceCents } }`;

  it('the next query after an import sees every write it made, with a warm cache', async () => {
    const before = await server.gql(QUERY);
    expect(before.data.books.totalCount).toBe(4);
    server.counters.reset();
    expect((await server.gql(QUERY)).data).toEqual(before.data);
    expect(server.counters.statements()).toEqual([]); // warm: served from Redis

    const { stdout } = await importFile(server, {
      books: [
        { isbn: 'isbn-1-1', title: 'Retitled by import', priceCents: 1, publishedYear: 2001, author: 'Author 1' },
        { isbn: 'new-1', title: 'New for author 2', priceCents: 2, author: 'Author 2' },
        { isbn: 'new-2', title: 'New author', priceCents: 3, author: 'Imported Author' },
      ],
    });
    expect(JSON.parse(stdout)).toMatchObject({ created: 2, updated: 1, unchanged: 0, authorsCreated: 1 });

    const after = await server.gql(QUERY);
    expect(after.data.book).toEqual({ title: 'Retitled by import', priceCents: 1 });
    expect(after.data.books.totalCount).toBe(6);
    expect(after.data.books.edges.slice(0, 3).map((e: any) => [e.node.isbn, e.node.author.name, e.node.author.books.totalCount])).toEqual([
      ['isbn-1-1', 'Author 1', 2],
      ['new-1', 'Author 2', 3],
      ['new-2', 'Imported Author', 1],
    ]);
  });

  it('refuses a malformed file with a message naming the entry, and writes nothing', async () => {
    const count = async () => Number((await server.app.orm.em.fork().execute<{ n: unknown }[]>('SELECT COUNT(*) AS n FROM book'))[0]?.n);
    const before = await count();
    await expect(importFile(server, { books: [{ isbn: 'x', title: 'T', priceCents: -5, author: 'A' }] }))
      .rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('books[0].priceCents must be a non-negative integer') });
    await expect(importFile(server, 'not json')).rejects.toMatchObject({ code: 2 });
    expect(await count()).toBe(before);
  });
});
