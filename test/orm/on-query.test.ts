import { Author, Book } from '../../src/orm/entities/index.ts';
import { openOrm, type CatalogOrm } from '../../src/orm/open-orm.ts';
import { createTestDatabase, testDrivers, type TestDatabase } from '../support/database.ts';

describe.each(testDrivers())('onQuery on %s', (driver) => {
  let db: TestDatabase;
  let orm: CatalogOrm;
  let queries: Array<{ sql: string; params: readonly unknown[] }>;
  let printed: string[];
  const writeStdout = process.stdout.write;

  beforeAll(async () => {
    db = await createTestDatabase(driver, 'on_query');
    queries = [];
    printed = [];
    // Catches output from the moment the ORM exists: connecting and migrating must be silent too.
    process.stdout.write = ((chunk: string | Uint8Array) => printed.push(String(chunk)) > 0) as typeof process.stdout.write;
    try {
      orm = await openOrm({ databaseUrl: db.url, onQuery: (sql, params) => queries.push({ sql, params }) });
    } finally {
      process.stdout.write = writeStdout;
    }
    const em = orm.em.fork();
    const authors = [1, 2, 3].map((n) => em.create(Author, { name: `Author ${n}` }));
    em.create(Book, { title: 'Only', isbn: 'q-1', priceCents: 100, author: authors[0]! });
    await em.flush();
  });
  beforeEach(() => {
    queries = [];
  });
  afterAll(async () => {
    await orm?.close();
    await db?.drop();
  });

  test('reports a find with $in as exactly one statement, with its parameters', async () => {
    const found = await orm.em.fork().find(Author, { id: { $in: [1, 3] } });
    expect(found.map((a) => a.name).sort()).toEqual(['Author 1', 'Author 3']);
    expect(queries).toHaveLength(1);
    expect(queries[0]!.sql).toMatch(/^select .* in \(\?, \?\)/);
    expect(queries[0]!.params).toEqual([1, 3]);
  });

  test('reports a flush as its begin, insert and commit statements', async () => {
    const em = orm.em.fork();
    em.create(Author, { name: 'Flushed' });
    await em.flush();
    expect(queries.map((q) => q.sql.split(' ')[0])).toEqual(['begin', 'insert', 'commit']);
  });

  test('reports raw execute and QueryBuilder statements once each', async () => {
    const em = orm.em.fork();
    await em.getConnection().execute('select count(*) as n from book');
    await em.createQueryBuilder(Book).select('id').where({ author: 1 }).execute();
    expect(queries).toHaveLength(2);
  });

  test('reports a statement that fails, once', async () => {
    await expect(orm.em.getConnection().execute('select * from no_such_table')).rejects.toThrow();
    expect(queries).toHaveLength(1);
  });

  test('prints nothing to stdout when debug is off', () => {
    expect(printed).toEqual([]);
  });
});
