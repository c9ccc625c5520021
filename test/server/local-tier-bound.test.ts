import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { openOrm } from '../../src/orm/open-orm.ts';
import { createTestDatabase, testDrivers, type TestDatabase } from '../support/database.ts';
import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { postGraphQL, unlinkTestKeys } from '../support/test-server.ts';

/**
 * The README's bound for the in-process tier: a read that starts after a mutation's response (on
 * any instance) shows that mutation — the invalidation message is published in the invalidation's
 * own pipeline, before the writer answers, so it is already on its way to every subscriber. The
 * margin below allows for the reader's event loop to take that message before the request; the
 * TTL backstop is set to a minute so that only the messages can keep the reads fresh.
 */
const BOUND_MS = 0;
const BOOKS = [1, 2, 3];
const WRITES_PER_BOOK = 25;
const READERS = 8;

// Two paths read from the tier: the resolvers' loaders (whole-response cache off), and whole answers
// (local-responses.ts), which the loaders' copies cannot serve (their batches read tombstones).
const MODES = [
  { mode: 'loaders', responseCache: 'off', hits: 'cache_local_hits_total', evictions: 'cache_local_evictions_total' },
  { mode: 'whole answers', responseCache: 'on', hits: 'response_cache_local_total{event="served"}', evictions: 'response_cache_local_total{event="evicted"}' },
] as const;
const CASES = testDrivers().flatMap((driver) => MODES.map((m) => ({ driver, ...m })));

describe.each(CASES)('in-process tier bound across two server processes on $driver ($mode)', ({ driver, responseCache, hits: hitsMetric, evictions: evictionsMetric }) => {
  let db: TestDatabase;
  const prefix = `t.tierbound.${randomBytes(4).toString('hex')}`;
  let writer: ServerProcess;
  let reader: ServerProcess;
  beforeAll(async () => {
    db = await createTestDatabase(driver, `tier-bound-${driver}`);
    const orm = await openOrm({ databaseUrl: db.url });
    await insertFixture(orm, { authors: 1, booksPerAuthor: BOOKS.length, reviewsPerBook: 1 });
    await orm.close();
    const env = {
      DATABASE_URL: db.url, CACHE_PREFIX: prefix,
      LOCAL_CACHE_MAX: '1000', LOCAL_CACHE_TTL_MS: '60000', RESPONSE_CACHE: responseCache,
    };
    [writer, reader] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([writer?.stop(), reader?.stop()]);
    await db?.drop();
    await unlinkTestKeys(`${prefix}:`);
  });

  it('never shows a read that started after a mutation\'s response a value older than it', async () => {
    // Versions of each book: [price, acknowledged at]; prices are unique, so a read names its version.
    const versions = new Map<number, { price: number; ackedAt: number }[]>(BOOKS.map((b) => [b, []]));
    const reads: { book: number; startedAt: number; price: number }[] = [];
    const query = (book: number) => `{ book(id: "${gid('Book', book)}") { priceCents author { name } } }`;
    for (const book of BOOKS) {
      const first = (await postGraphQL(reader.url, query(book))).data.book.priceCents as number;
      versions.get(book)!.push({ price: first, ackedAt: 0 });
    }

    let writing = true;
    const readers = Array.from({ length: READERS }, async (_, worker) => {
      for (let i = worker; writing; i++) {
        const book = BOOKS[i % BOOKS.length]!;
        const startedAt = performance.now();
        const res = await postGraphQL(reader.url, query(book));
        reads.push({ book, startedAt, price: res.data.book.priceCents });
      }
    });
    for (let i = 0; i < WRITES_PER_BOOK * BOOKS.length; i++) {
      const book = BOOKS[i % BOOKS.length]!;
      const price = 100_000 + i;
      const res = await postGraphQL(writer.url, `mutation { updateBook(id: "${gid('Book', book)}", input: { priceCents: ${price} }) { priceCents } }`);
      expect(res.data.updateBook.priceCents).toBe(price);
      versions.get(book)!.push({ price, ackedAt: performance.now() });
      await sleep(15); // let the reader's tier fill up again between writes
    }
    writing = false;
    await Promise.all(readers);

    let violations = 0;
    let stale = 0;
    let maxStalenessMs = 0;
    for (const { book, startedAt, price } of reads) {
      const history = versions.get(book)!;
      const seen = history.findIndex((v) => v.price === price);
      expect(seen).toBeGreaterThanOrEqual(0); // every value read was written
      const newer = history[seen + 1];
      if (!newer || newer.ackedAt > startedAt) continue; // current when the read started
      stale++;
      maxStalenessMs = Math.max(maxStalenessMs, startedAt - newer.ackedAt);
      if (startedAt - newer.ackedAt >= BOUND_MS) violations++;
    }
    const metrics = await (await fetch(`${reader.url}/metrics`)).text();
    const counter = (name: string) => Number(metrics.split('\n').find((line) => line.startsWith(`catalog_${name} `))?.split(' ')[1] ?? NaN);
    const hits = counter(hitsMetric);
    const evictions = counter(evictionsMetric);
    console.log(`${driver}, ${responseCache === 'on' ? 'whole answers' : 'loaders'}: ${reads.length} reads on B during ${versions.size * WRITES_PER_BOOK} writes on A; ` +
      `tier hits ${hits}, evictions by message ${evictions}; ` +
      `stale reads (started after a newer version's response) ${stale}, max staleness ${maxStalenessMs.toFixed(2)} ms`);

    expect(reads.length).toBeGreaterThan(200);
    expect(hits).toBeGreaterThan(reads.length / 4); // the tier did serve: the bound is about it
    // Messages dropped copies on B (how many depends on whether B held one when each write came).
    expect(evictions).toBeGreaterThan(0);
    expect(violations).toBe(0);
  }, 60_000);
});
