import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Author, Book } from '../../src/orm/entities/index.ts';
import { openOrm, type CatalogOrm } from '../../src/orm/open-orm.ts';
import { createTestDatabase, testDrivers, type TestDatabase } from '../support/database.ts';

const openOrmPath = fileURLToPath(new URL('../../src/orm/open-orm.ts', import.meta.url));

describe.each(testDrivers())('onQuery on %s', (driver) => {
  let db: TestDatabase;
  let orm: CatalogOrm;
  let queries: Array<{ sql: string; params: readonly unknown[] }>;

  beforeAll(async () => {
    db = await createTestDatabase(driver, 'on_query');
    queries = [];
    orm = await openOrm({ databaseUrl: db.url, onQuery: (sql, params) => queries.push({ sql, params }) });
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
});

describe('onQuery and debug output', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('sqlite', 'on_query_output');
  });
  afterAll(() => db?.drop());

  // MikroORM's default writer is a console.log bound when it loads, out of reach of Jest's console:
  // only a separate process shows what really reaches stdout.
  function openAndQuery(debug: boolean) {
    const script = `
      import { openOrm } from ${JSON.stringify(openOrmPath)};
      let count = 0;
      const orm = await openOrm({ databaseUrl: ${JSON.stringify(db.url)}, debug: ${debug}, onQuery: () => count++ });
      await orm.em.fork().find('Author', { id: { $in: [1, 2] } });
      await orm.close();
      process.stderr.write(String(count));`;
    return spawnSync(process.execPath, ['--input-type=module', '--no-warnings', '-e', script], { encoding: 'utf8' });
  }

  test('print nothing to stdout, migrations included, when debug is off', () => {
    const run = openAndQuery(false);
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('');
    expect(Number(run.stderr)).toBeGreaterThan(0);
  });

  test('print queries and still report them when debug is on', () => {
    const run = openAndQuery(true);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/\[query\][^\n]*select/);
    expect(Number(run.stderr)).toBeGreaterThan(0);
  });
});
