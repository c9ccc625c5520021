import { DatabaseSchema } from '@mikro-orm/sql';
import { Client, type Notification } from 'pg';
import { Book, Review } from '../../src/orm/entities/index.ts';
import { openOrm, type CatalogOrm } from '../../src/orm/open-orm.ts';
import { migrations as postgresMigrations } from '../../src/orm/migrations/postgres/index.ts';
import { migrations as sqliteMigrations } from '../../src/orm/migrations/sqlite/index.ts';
import { createTestDatabase, testDrivers, type TestDatabase } from '../support/database.ts';

describe.each(testDrivers())('migrations on %s', (driver) => {
  let db: TestDatabase;
  let orm: CatalogOrm;

  beforeAll(async () => {
    db = await createTestDatabase(driver, 'migrations');
    orm = await openOrm({ databaseUrl: db.url });
  });
  afterAll(async () => {
    await orm?.close();
    await db?.drop();
  });

  const sql = (query: string, params: unknown[] = []) => orm.em.getConnection().execute(query, params);
  async function one(query: string, params: unknown[] = []): Promise<Record<string, any>> {
    const [row] = await sql(query, params);
    if (row === undefined) {
      throw new Error(`no row from ${query}`);
    }
    return row;
  }

  async function introspect(): Promise<DatabaseSchema> {
    return DatabaseSchema.create(orm.em.getConnection(), orm.em.getPlatform(), orm.config);
  }

  test('create exactly the contract tables, and the viewers\' account and favorite', async () => {
    // MikroORM's introspection leaves out its own mikro_orm_migrations table.
    const names = (await introspect()).getTables().map((t) => t.name).sort();
    expect(names).toEqual(['account', 'author', 'book', 'favorite', 'review']);
  });

  test('make account.email and (account, book) favorites unique, and cascade favorites with either side', async () => {
    const schema = await introspect();
    const unique = (table: string) =>
      schema.getTable(table)!.getIndexes().filter((i) => !i.primary && i.unique).map((i) => i.columnNames.join(','));
    expect(unique('account')).toEqual(['email']);
    expect(unique('favorite')).toEqual(['account_id,book_id']);
    const foreignKeys = Object.values(schema.getTable('favorite')!.getForeignKeys())
      .map((fk) => [fk.columnNames.join(','), fk.referencedTableName.split('.').pop(), fk.deleteRule?.toLowerCase()]).sort();
    expect(foreignKeys).toEqual([['account_id', 'account', 'cascade'], ['book_id', 'book', 'cascade']]);
  });

  test('create the contract columns with underscored names and their nullability', async () => {
    const schema = await introspect();
    const columns = (table: string) =>
      Object.fromEntries(schema.getTable(table)!.getColumns().map((c) => [c.name, c.nullable === true]));
    expect(columns('author')).toEqual({ id: false, name: false, bio: true });
    expect(columns('book')).toEqual({
      id: false, title: false, isbn: false, price_cents: false, published_year: true, author_id: false,
    });
    expect(columns('review')).toEqual({ id: false, rating: false, body: true, book_id: false, created_at: false });
  });

  test('make book.isbn unique and index both foreign keys, with id after them (a parent\'s rows in id order)', async () => {
    const schema = await introspect();
    const indexes = (table: string) =>
      schema.getTable(table)!.getIndexes().filter((i) => !i.primary).map((i) => [i.columnNames.join(','), i.unique]);
    expect(indexes('book')).toEqual(expect.arrayContaining([['isbn', true], ['author_id,id', false]]));
    expect(indexes('review')).toEqual(expect.arrayContaining([['book_id,id', false]]));
  });

  test('declare the foreign keys ON DELETE CASCADE', async () => {
    const schema = await introspect();
    const foreignKeys = (table: string) =>
      Object.values(schema.getTable(table)!.getForeignKeys()).map((fk) => [
        fk.columnNames.join(','), fk.referencedTableName.split('.').pop(), fk.deleteRule?.toLowerCase(),
      ]);
    expect(foreignKeys('book')).toEqual([['author_id', 'author', 'cascade']]);
    expect(foreignKeys('review')).toEqual([['book_id', 'book', 'cascade']]);
  });

  test('serve plain-SQL writers: ids from the database, created_at defaulted, cascades and uniqueness enforced', async () => {
    await sql('insert into author (name) values (?)', ['Plain']);
    const author = await one('select id from author where name = ?', ['Plain']);
    await sql('insert into book (title, isbn, price_cents, author_id) values (?, ?, ?, ?)', ['B', 'plain-1', 100, author.id]);
    const book = await one('select id from book where isbn = ?', ['plain-1']);
    await sql('insert into review (rating, book_id) values (?, ?)', [4, book.id]);

    const review = await one('select created_at from review where book_id = ?', [book.id]);
    expect(review.created_at).not.toBeNull();
    await expect(
      sql('insert into book (title, isbn, price_cents, author_id) values (?, ?, ?, ?)', ['C', 'plain-1', 1, author.id]),
    ).rejects.toThrow(/unique/i);

    await sql('delete from author where id = ?', [author.id]);
    const left = await one(
      'select (select count(*) from book where id = ?) as books, (select count(*) from review where book_id = ?) as reviews',
      [book.id, book.id],
    );
    expect([Number(left.books), Number(left.reviews)]).toEqual([0, 0]);
  });

  test('give ORM and plain-SQL rows the same created_at representation', async () => {
    // In SQLite MikroORM stores epoch milliseconds; the column default must produce the same.
    const em = orm.em.fork();
    const author = await one("insert into author (name) values ('Same') returning id");
    const bookId = await em.insert(Book, { title: 'S', isbn: 'same-1', priceCents: 1, author: author.id });
    await em.insert(Review, { rating: 5, book: bookId, createdAt: new Date() });
    await sql('insert into review (rating, book_id) values (?, ?)', [3, bookId]);
    const rows = await sql('select created_at from review where book_id = ? order by id', [bookId]);
    expect(rows.map((r) => typeof r.created_at)).toEqual([typeof rows[0]?.created_at, typeof rows[0]?.created_at]);
    const reviews = await em.find(Review, { book: bookId }, { orderBy: { id: 'asc' } });
    const [ormMade, sqlMade] = reviews.map((r) => r.createdAt.getTime());
    expect(Math.abs(sqlMade! - ormMade!)).toBeLessThan(60_000);
  });

  test('leave nothing for a schema diff to propose (the change-feed triggers are not entity-declared)', async () => {
    expect(await orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
  });

  (driver === 'postgresql' ? test : test.skip)('publish every row change in chunks under the 8000-byte NOTIFY limit (PostgreSQL)', async () => {
    const triggers = await sql(`select tgrelid::regclass::text as t, count(*) as n from pg_trigger
      where not tgisinternal and tgname like 'catalog_changes_%' group by 1 order by 1`);
    expect(triggers.map((r) => [r.t, Number(r.n)])).toEqual([['account', 4], ['author', 4], ['book', 4], ['favorite', 4], ['review', 4]]);

    await sql("insert into author (name) values ('Bulk')");
    const { id: authorId } = await one("select id from author where name = 'Bulk'");
    await sql(`insert into book (title, isbn, price_cents, author_id)
      select 'A rather long title for book number ' || g, 'bulk-' || g, g, ? from generate_series(1, 5000) g`, [authorId]);
    const listener = new Client({ connectionString: db.url });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (n: Notification) => payloads.push(n.payload!));
    await listener.query('LISTEN catalog_changes');
    try {
      await sql('update book set price_cents = price_cents + 1 where author_id = ?', [authorId]);
      for (let i = 0; i < 200 && payloads.reduce((n, p) => n + JSON.parse(p).rows.length, 0) < 5000; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await listener.end();
    }
    const messages = payloads.map((p) => JSON.parse(p));
    expect(messages.every((m) => m.table === 'book' && m.op === 'UPDATE')).toBe(true);
    expect(messages.flatMap((m) => m.rows).length).toBe(5000);
    expect(messages.length).toBeGreaterThan(50); // ~190 bytes a row pair: ~40 rows a notification
    expect(Math.max(...payloads.map((p) => Buffer.byteLength(p)))).toBeLessThan(8000);
    const [old, now] = messages[0].rows[0];
    expect(now.price_cents).toBe(old.price_cents + 1);
  });

  (driver === 'postgresql' ? test : test.skip)('publish each operation\'s rows with their key columns, from a function of each table\'s own (PostgreSQL)', async () => {
    const functions = await sql(`select distinct p.proname as f from pg_trigger t join pg_proc p on p.oid = t.tgfoid
      where not t.tgisinternal and t.tgname like 'catalog_changes_%' order by 1`);
    expect(functions.map((r) => r.f)).toEqual(['account', 'author', 'book', 'favorite', 'review']
      .flatMap((table) => ['delete', 'insert', 'truncate', 'update'].map((op) => `catalog_publish_${table}_${op}`)));

    const author = await one("insert into author (name) values ('Feed') returning id");
    const book = await one("insert into book (title, isbn, price_cents, author_id) values ('F', 'feed-1', 10, ?) returning id", [author.id]);
    const listener = new Client({ connectionString: db.url });
    await listener.connect();
    const messages: { table: string; op: string; at: number; rows: unknown[] }[] = [];
    listener.on('notification', (n: Notification) => messages.push(JSON.parse(n.payload!)));
    await listener.query('LISTEN catalog_changes');
    try {
      const review = await one('insert into review (rating, book_id, body) values (?, ?, ?) returning id', [2, book.id, 'not published']);
      await sql('update review set rating = 5 where id = ?', [review.id]);
      await sql('delete from review where id = ?', [review.id]);
      await sql('update book set title = ?, price_cents = 11 where id = ?', ['G "quoted"', book.id]);
      await sql('truncate favorite');
      for (let i = 0; i < 200 && messages.length < 5; i++) await new Promise((r) => setTimeout(r, 10));
      const reviewRow = { id: review.id, book_id: book.id, rating: 2 };
      expect(messages.map(({ table, op, rows }) => ({ table, op, rows }))).toEqual([
        { table: 'review', op: 'INSERT', rows: [[null, reviewRow]] },
        { table: 'review', op: 'UPDATE', rows: [[reviewRow, { ...reviewRow, rating: 5 }]] },
        { table: 'review', op: 'DELETE', rows: [[{ ...reviewRow, rating: 5 }, null]] },
        { table: 'book', op: 'UPDATE', rows: [[
          { id: book.id, author_id: author.id, title: 'F', price_cents: 10, published_year: null },
          { id: book.id, author_id: author.id, title: 'G "quoted"', price_cents: 11, published_year: null },
        ]] },
        { table: 'favorite', op: 'TRUNCATE', rows: [] },
      ]);
      expect(messages.every((m) => typeof m.at === 'number' && Math.abs(m.at - Date.now()) < 60_000)).toBe(true);
    } finally {
      await listener.end();
    }
  });

  test('apply nothing when opened again', async () => {
    const again = await openOrm({ databaseUrl: db.url });
    try {
      expect(await again.migrator.getPending()).toEqual([]);
      const checkedIn = driver === 'postgresql' ? postgresMigrations : sqliteMigrations;
      expect((await again.migrator.getExecuted()).map((m) => m.name)).toEqual(checkedIn.map((m) => m.name));
    } finally {
      await again.close();
    }
  });
});

(testDrivers().includes('postgresql') ? describe : describe.skip)('migrations with several instances starting at once (PostgreSQL)', () => {
  it('migrate once: the others wait on the advisory lock and find nothing pending', async () => {
    const db = await createTestDatabase('postgresql', 'migrations-race');
    try {
      const orms = await Promise.all([1, 2, 3].map(() => openOrm({ databaseUrl: db.url })));
      try {
        const [row] = await orms[0]!.em.getConnection().execute<{ n: unknown }[]>('SELECT COUNT(*) AS n FROM mikro_orm_migrations');
        expect(Number(row!.n)).toBe(postgresMigrations.length);
        for (const orm of orms) expect(await orm.migrator.getPending()).toEqual([]);
      } finally {
        await Promise.all(orms.map((orm) => orm.close(true)));
      }
    } finally {
      await db.drop();
    }
  });
});
