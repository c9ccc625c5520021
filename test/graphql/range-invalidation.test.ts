import { testDrivers } from '../support/database.ts';
import { FillBarrier } from '../support/fill-barrier.ts';
import { gid } from '../support/ids.ts';
import { mulberry32 } from '../../bench/mulberry32.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

/**
 * Lists ordered by a number (PRICE, PUBLISHED_YEAR) are range-bucketed: a write that changes a
 * book's price invalidates only the pages whose value range holds the old or the new price. These
 * tests pin that precision (pages far from a write stay cached: 0 SQL) and that it is never bought
 * with a stale page (a random write history, every page compared with the database's own order).
 */
const PAGE = `query($after: String, $field: BookOrderField!, $direction: OrderDirection!) {
  books(first: 5, after: $after, orderBy: { field: $field, direction: $direction }) {
    totalCount edges { cursor node { id priceCents publishedYear } } pageInfo { hasNextPage endCursor } } }`;

describe.each(testDrivers())('range-bucketed page invalidation on %s', (driver) => {
  let server: TestServer;
  const barrier = new FillBarrier();

  beforeEach(async () => {
    server = await startTestServer(driver, `ranges-${driver}`, {}, { beforeFill: barrier.hook });
    // 40 books priced 100, 200, … 4000; every 7th without a year.
    const em = server.app.orm.em.fork();
    await em.execute("INSERT INTO author (name, bio) VALUES ('Author', NULL)");
    for (let i = 1; i <= 40; i++) {
      await em.execute('INSERT INTO book (title, isbn, price_cents, published_year, author_id) VALUES (?, ?, ?, ?, 1)',
        [`Book ${i}`, `isbn-${i}`, i * 100, i % 7 === 0 ? null : 1900 + ((i * 37) % 120)]);
    }
    await server.settled();
  });
  afterEach(() => server.close());

  /** Walks a whole list through the API: ids in order, and the SQL statements it took. */
  async function walk(field: string, direction: string): Promise<{ ids: string[]; statements: number; pages: number }> {
    const before = server.counters.statements().length;
    const ids: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const res: any = await server.gql(PAGE, { after, field, direction });
      expect(res.errors).toBeUndefined();
      pages++;
      ids.push(...res.data.books.edges.map((e: any) => e.node.id));
      after = res.data.books.pageInfo.hasNextPage ? res.data.books.pageInfo.endCursor : null;
    } while (after !== null);
    return { ids, statements: server.counters.statements().length - before, pages };
  }

  /** The same list as the database orders it (the API's order: value, then id; a missing year first). */
  async function truth(field: string, direction: string): Promise<string[]> {
    const column = field === 'PRICE' ? 'price_cents' : 'COALESCE(published_year, -2147483648)';
    const rows = await server.app.orm.em.fork().execute<{ id: number }[]>(`SELECT id FROM book ORDER BY ${column} ${direction}, id ${direction}`);
    return rows.map((r) => gid('Book', Number(r.id)));
  }

  const setPrice = (id: number, price: number) =>
    server.gql(`mutation { updateBook(id: "${gid('Book', id)}", input: { priceCents: ${price} }) { priceCents } }`);

  it('a price write far from the cached pages leaves them cached; one near them re-reads only those pages', async () => {
    const first = await walk('PRICE', 'ASC');
    expect(first.ids).toEqual(await truth('PRICE', 'ASC'));
    expect(first.pages).toBe(8);
    const warm = await walk('PRICE', 'ASC');
    expect(warm.statements).toBe(0);

    // Book 39 (3900) → 3950: only the last pages' range holds either price.
    expect((await setPrice(39, 3950)).errors).toBeUndefined();
    server.counters.reset();
    const far = await walk('PRICE', 'ASC');
    expect(far.ids).toEqual(await truth('PRICE', 'ASC'));
    // Pages 1–7 (prices up to 3500, each bounded by the row after it) are still served; the last
    // page (open above) and the book itself are read again.
    const pageQueries = server.counters.statementsOn('book').filter((s) => /order by/i.test(s));
    expect(pageQueries.length).toBeLessThanOrEqual(2);
    expect(pageQueries.length).toBeGreaterThanOrEqual(1);

    // Book 30 (3000) → 150: it leaves page 6 and enters page 1; both are re-read, and the walk,
    // whose cursors now differ after page 1, is right.
    expect((await setPrice(30, 150)).errors).toBeUndefined();
    const near = await walk('PRICE', 'ASC');
    expect(near.ids).toEqual(await truth('PRICE', 'ASC'));
    expect(near.ids[1]).toBe(gid('Book', 30));
  });

  it('a page built from a read taken before a reorder committed is stored but never served', async () => {
    await walk('PRICE', 'ASC');
    // Page 1 read again from the database: book 3 (300) is on it; the writer moves it to 3333
    // between the reader's query and its fill.
    await server.redis.incr(server.app.cache.keyspace.generation('books.PRICE')); // page 1 misses now
    barrier.arm('Page');
    const reading = server.gql(PAGE, { after: null, field: 'PRICE', direction: 'ASC' });
    await barrier.reached;
    await server.app.orm.em.fork().execute('UPDATE book SET price_cents = 3333 WHERE id = 3');
    await server.settled();
    expect((await setPrice(3, 3334)).errors).toBeUndefined(); // and the API, whatever the feed does
    barrier.release();
    const old: any = await reading;
    expect(old.data.books.edges.map((e: any) => e.node.id)).toContain(gid('Book', 3)); // read before the write
    const next = await walk('PRICE', 'ASC');
    expect(next.ids).toEqual(await truth('PRICE', 'ASC'));
    expect(next.ids.slice(0, 5)).not.toContain(gid('Book', 3));
  });

  it('counts the whole table once per list generation, not once per page', async () => {
    server.counters.reset();
    const first = await walk('PRICE', 'ASC');
    const pageQueries = server.counters.statementsOn('book').filter((sql) => /order by/i.test(sql));
    expect(pageQueries).toHaveLength(first.pages);
    expect(pageQueries.filter((sql) => /count\(\*\)/i.test(sql))).toHaveLength(1);

    // A new book changes the members: the generation moves, the next page counts again, and
    // every page of the next walk reports the new total.
    await server.app.orm.em.fork().execute("INSERT INTO book (title, isbn, price_cents, published_year, author_id) VALUES ('New', 'isbn-new', 5, 2000, 1)");
    await server.settled();
    server.counters.reset();
    const res: any = await server.gql(PAGE, { after: null, field: 'PRICE', direction: 'ASC' });
    expect(res.data.books.totalCount).toBe(41);
    expect(server.counters.statements().filter((sql) => /count\(\*\)/i.test(sql))).toHaveLength(1);
    let after: string | null = res.data.books.pageInfo.endCursor;
    while (after !== null) {
      const next: any = await server.gql(PAGE, { after, field: 'PRICE', direction: 'ASC' });
      expect(next.data.books.totalCount).toBe(41);
      after = next.data.books.pageInfo.hasNextPage ? next.data.books.pageInfo.endCursor : null;
    }
    expect(server.counters.statements().filter((sql) => /count\(\*\)/i.test(sql))).toHaveLength(1);
  });

  it('stays exact through a random history of price and year writes, by API and by plain SQL', async () => {
    const random = mulberry32(driver === 'sqlite' ? 11 : 12);
    const orders: [string, string][] = [['PRICE', 'ASC'], ['PRICE', 'DESC'], ['PUBLISHED_YEAR', 'ASC'], ['PUBLISHED_YEAR', 'DESC']];
    for (const [field, direction] of orders) await walk(field, direction);
    let statements = 0;
    let pages = 0;
    for (let step = 0; step < 24; step++) {
      const id = 1 + Math.floor(random() * 40);
      // Often onto an existing price (ties, ordered by id), sometimes far away, sometimes 0.
      const price = [Math.floor(random() * 41) * 100, Math.floor(random() * 400_000), 0][Math.floor(random() * 3)]!;
      const year = random() < 0.3 ? null : 1850 + Math.floor(random() * 200);
      const how = random();
      if (how < 0.4) {
        expect((await setPrice(id, price)).errors).toBeUndefined();
      } else if (how < 0.7) {
        await server.app.orm.em.fork().execute('UPDATE book SET price_cents = ?, published_year = ? WHERE id = ?', [price, year, id]);
        await server.settled();
      } else {
        const res = await server.gql(`mutation($id: ID!, $year: Int) { updateBook(id: $id, input: { publishedYear: $year }) { id } }`, { id: gid('Book', id), year });
        expect(res.errors).toBeUndefined();
      }
      for (const [field, direction] of orders) {
        const walked = await walk(field, direction);
        expect({ step, field, direction, ids: walked.ids }).toEqual({ step, field, direction, ids: await truth(field, direction) });
        statements += walked.statements;
        pages += walked.pages;
      }
    }
    // The history is checked against cached pages, not a cache that never hits: most pages of
    // most walks were served from Redis.
    expect(statements).toBeLessThan(pages / 2);
  });
});
