import { Client } from 'pg';
import { feedAliveKey } from '../../src/cache/keyspace.ts';
import type { ChangeEvent } from '../../src/orm/change-feed/change-events.ts';
import { startPgChangeListener } from '../../src/orm/change-feed/pg-change-listener.ts';
import { testDrivers } from '../support/database.ts';
import { insertFixture } from '../support/fixtures.ts';
import { cachedEntities } from '../support/cache-snapshot.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { gid } from '../support/ids.ts';

/** Polls `check` every 5 ms until it holds; fails after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await check()); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
  }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

const BOOK = `query($id: ID!) { book(id: $id) { title reviewCount author { books { totalCount edges { node { id title } } } } } }`;

// Another program — here a bare pg.Client, as psql or a job in another language would be — writes
// plain SQL. The triggers publish each committed change; the server's listener invalidates.
(testDrivers().includes('postgresql') ? describe : describe.skip)('plain SQL from another program, on postgresql', () => {
  let server: TestServer;
  let writer: Client;
  const applied: { at: number; events: readonly ChangeEvent[]; delayMs: number }[] = [];
  const feed = { pid: 0, connects: 0, disconnects: 0 };

  beforeAll(async () => {
    server = await startTestServer('postgresql', 'plain-sql', {}, {
      changeFeed: {
        applied: (events, delayMs) => applied.push({ at: performance.now(), events, delayMs }),
        connected: ({ pid }) => { feed.pid = pid; feed.connects++; },
        disconnected: () => { feed.disconnects++; },
      },
    });
    // Authors 1..3, 3 books each (book 3k+b belongs to author k+1), reviews 2b-1 and 2b of book b.
    await insertFixture(server.app.orm, { authors: 3, booksPerAuthor: 3, reviewsPerBook: 2 });
    writer = new Client({ connectionString: server.db.url });
    await writer.connect();
  });
  afterAll(async () => {
    await writer?.end();
    await server?.close();
  });

  const title = async (id: number) => (await server.gql(BOOK, { id: gid('Book', id) })).data.book?.title;

  it('serves an UPDATE, an INSERT with a sequence id and a cascading DELETE made with plain SQL', async () => {
    expect(await title(1)).toBe('Book 1.1');
    expect(await cachedEntities(server)).toContain('Book:1');
    await writer.query(`UPDATE book SET title = 'Retitled by psql' WHERE id = 1`);
    await until('the new title is served', async () => (await title(1)) === 'Retitled by psql');

    const before = await server.gql(BOOK, { id: gid('Book', 4) });
    expect(before.data.book.author.books.totalCount).toBe(3);
    const { rows: [row] } = await writer.query<{ id: number }>(
      `INSERT INTO book (title, isbn, price_cents, author_id) VALUES ('Inserted by psql', 'psql-1', 100, 2) RETURNING id`,
    );
    await until("the author's list counts the new book", async () =>
      (await server.gql(BOOK, { id: gid('Book', 4) })).data.book.author.books.totalCount === 4);
    expect((await server.gql(BOOK, { id: gid('Book', 4) })).data.book.author.books.edges.map((e: any) => e.node.id))
      .toContain(gid('Book', row!.id));

    await server.gql(`{ book(id: "${gid('Book', 7)}") { id } node(id: "${gid('Review', 13)}") { id } }`);
    expect(await cachedEntities(server)).toEqual(expect.arrayContaining(['Book:7', 'Review:13']));
    await writer.query('DELETE FROM author WHERE id = 3'); // cascades to books 7-9 and reviews 13-18
    await until('the cascade is served', async () => {
      const res = await server.gql(`{ b: book(id: "${gid('Book', 7)}") { id } r: node(id: "${gid('Review', 13)}") { id } books { totalCount } authors { totalCount } }`);
      return JSON.stringify(res.data) === JSON.stringify({ b: null, r: null, books: { totalCount: 7 }, authors: { totalCount: 2 } });
    });
  });

  it('invalidates within a bounded delay after the writer’s COMMIT (≥ 200 writes)', async () => {
    await server.settled();
    const writes = 200;
    const commitToApply: number[] = [];
    const triggerToApply: number[] = [];
    for (let i = 0; i < writes; i++) {
      const bookId = 1 + (i % 6);
      const price = 20_000 + i;
      await writer.query('BEGIN');
      await writer.query('UPDATE book SET price_cents = $1 WHERE id = $2', [price, bookId]);
      await writer.query('COMMIT');
      const committed = performance.now();
      const matches = (e: ChangeEvent) => e.table === 'book' && e.new?.id === bookId && e.new.price_cents === price;
      await until(`write ${i} is applied`, () => applied.some((a) => a.events.some(matches)));
      const hit = applied.find((a) => a.events.some(matches))!;
      // Can be negative: the listener may apply before the writer has even read COMMIT's answer.
      commitToApply.push(hit.at - committed);
      triggerToApply.push(hit.delayMs);
    }
    const report = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return `p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms`;
    };
    console.log(`change feed over ${writes} plain-SQL writes — COMMIT resolved → invalidation applied: ${report(commitToApply)}; `
      + `trigger clock_timestamp() → applied: ${report(triggerToApply)}`);
    expect(percentile([...commitToApply].sort((a, b) => a - b), 99)).toBeLessThan(1000);
  }, 60_000);

  it('TRUNCATE, which names no rows, retires the whole cache', async () => {
    await server.settled();
    expect((await server.gql(BOOK, { id: gid('Book', 2) })).data.book.reviewCount).toBe(2);
    const epoch = server.app.cache.epoch.current();
    await writer.query('TRUNCATE review');
    await until('the epoch is bumped', () => server.app.cache.epoch.current() > epoch);
    expect((await server.gql(BOOK, { id: gid('Book', 2) })).data.book.reviewCount).toBe(0);
  });

  it('after its connection is killed, the listener reconnects and retires the cache: a change made meanwhile is not served stale', async () => {
    await server.settled();
    expect(await title(2)).toBe('Book 1.2');
    const epoch = server.app.cache.epoch.current();
    const { connects, disconnects } = feed;

    await writer.query('SELECT pg_terminate_backend($1)', [feed.pid]);
    await until('the listener notices', () => feed.disconnects > disconnects);
    await writer.query(`UPDATE book SET title = 'Written while nobody listened' WHERE id = 2`);
    await until('the listener is back', () => feed.connects > connects, 5000);

    expect(server.app.cache.epoch.current()).toBeGreaterThan(epoch);
    // Nobody was listening: the notification is lost, and only the epoch bump makes this fresh.
    expect(applied.some((a) => a.events.some((e) => e.table === 'book' && e.new?.title === 'Written while nobody listened'))).toBe(false);
    expect(await title(2)).toBe('Written while nobody listened');

    await writer.query(`UPDATE book SET title = 'Heard again' WHERE id = 2`);
    await until('changes are heard again', async () => (await title(2)) === 'Heard again');
  });

  it('a listener joining a live one keeps the cache; one starting after a crash, or after all stopped, retires it', async () => {
    const { invalidator, epoch, keyspace, redis } = server.app.cache;
    const start = () => startPgChangeListener({ connectionString: server.db.url, invalidator, epoch, keyspace, redis });
    const bumps = async (run: () => Promise<void>) => {
      const before = await server.app.cache.epoch.refresh();
      await run();
      return (await server.app.cache.epoch.refresh()) - before;
    };

    expect(await redis!.get(feedAliveKey(keyspace.prefix))).toBe(String(feed.pid));
    expect(await bumps(async () => { await (await start()).stop(); })).toBe(0);

    // A crashed listener's heartbeat outlives it by up to 3 s; its backend is gone from pg_stat_activity.
    await server.app.changeFeed!.stop();
    await redis!.set(feedAliveKey(keyspace.prefix), '999999', 'PX', 3000);
    expect(await bumps(async () => { await (await start()).stop(); })).toBe(1);
    expect(await redis!.get(feedAliveKey(keyspace.prefix))).toBeNull(); // a clean stop removes its own heartbeat
    expect(await bumps(async () => { await (await start()).stop(); })).toBe(1);
  });
});
