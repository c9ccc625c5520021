import { createHash } from 'node:crypto';
import { Evictions } from '../../src/cache/evictions.ts';
import { RESPONSE_MAX_TTL_SECONDS } from '../../src/cache/response-store.ts';
import { readConfig } from '../../src/server/config.ts';
import { testDrivers } from '../support/database.ts';
import { FillBarrier } from '../support/fill-barrier.ts';
import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const SECRET = 'response-cache-test-secret-of-32-bytes!!';

interface Answer {
  status: number;
  cache: string | null;
  headers: Headers;
  text: string;
  body: any;
}

/** One HTTP request as a client sends it: POST (JSON) or GET (search params, with the preflight header Apollo wants). */
async function send(server: TestServer, query: string | undefined, options: {
  variables?: Record<string, unknown>; token?: string; method?: 'GET' | 'POST'; extensions?: unknown; headers?: Record<string, string>;
} = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers };
  let res: Response;
  if (options.method === 'GET') {
    const search = new URLSearchParams();
    if (query !== undefined) search.set('query', query);
    if (options.variables) search.set('variables', JSON.stringify(options.variables));
    if (options.extensions) search.set('extensions', JSON.stringify(options.extensions));
    res = await fetch(`${server.url}/graphql?${search}`, { headers: { 'apollo-require-preflight': '1', ...headers } });
  } else {
    res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables: options.variables, extensions: options.extensions }),
    });
  }
  const text = await res.text();
  return { status: res.status, cache: res.headers.get('x-response-cache'), headers: res.headers, text, body: JSON.parse(text) };
}

const BOOK = 'query($id: ID!) { book(id: $id) { id title author { name } reviews(first: 2) { totalCount edges { node { rating } } } } }';
const BOOKS_BY_PRICE = '{ books(first: 3, orderBy: { field: PRICE, direction: ASC }) { edges { node { id title priceCents } } } }';
const AUTHORS = '{ authors(first: 2) { edges { node { name } } } }';
const RENAME = 'mutation($id: ID!, $title: String!) { updateBook(id: $id, input: { title: $title }) { id title } }';

/**
 * Whether an updateBook on this server writes the row it committed through (PostgreSQL's feed
 * recognises its own commits, on a single Redis: GraphQLContext.writeThrough): a rebuild then
 * finds the book in Redis and reads no SQL, and has no fill to send.
 */
const writesThrough = (server: TestServer) => Boolean(server.app.changeFeed?.ownCommits) && server.app.cache.redis?.isCluster === false;
const SIGN_UP = 'mutation($email: String!) { signUp(email: $email, password: "correct horse") { token } }';
const FAVORITES = '{ viewer { email favorites(first: 5) { totalCount edges { node { id title } } } } }';

describe.each(testDrivers())('whole-response cache on %s', (driver) => {
  let server: TestServer;
  let loaderLookups = 0;
  let patches = 0;
  let refusals: string[] = [];

  beforeEach(async () => {
    loaderLookups = 0;
    patches = 0;
    refusals = [];
    server = await startTestServer(driver, `respcache-${driver}`, { responseCache: true, authSecret: SECRET }, {
      loaders: { lookup: () => void loaderLookups++ },
      responseCache: { patched: () => void patches++, patchRefused: (reason) => void refusals.push(reason) },
    });
    // Authors 1..2, books 1..5 (author 1) and 6..10 (author 2), 2 reviews each.
    await insertFixture(server.app.orm, { authors: 2, booksPerAuthor: 5, reviewsPerBook: 2 });
  });
  afterEach(() => server.close());

  const responseKeys = () => server.keys('*:r:*');

  it('answers a repeated query from one Redis round trip, running no resolver and no SQL, byte for byte', async () => {
    const first = await send(server, BOOK, { variables: { id: gid('Book', 1) } });
    expect(first.cache).toBe('MISS');
    expect(first.body.data.book.title).toBe('Book 1.1');
    expect(await responseKeys()).toHaveLength(1);

    server.counters.reset();
    loaderLookups = 0;
    const second = await send(server, BOOK, { variables: { id: gid('Book', 1) } });
    expect(second.cache).toBe('HIT');
    expect(second.text).toBe(first.text);
    expect(second.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(second.headers.get('cache-control')).toBe(first.headers.get('cache-control'));
    expect(second.headers.get('cache-control')).toBe('max-age=60, public');
    expect(second.headers.get('age')).toBeNull(); // checked current just now: as fresh as a new answer
    expect(server.counters.statements()).toEqual([]);
    expect(loaderLookups).toBe(0);
    expect(server.counters.roundTrips).toEqual([{ operation: 'responseLookup', commands: 1 }]);
  });

  it('keeps an answer past its maxAge (checked on every hit), still telling clients its maxAge; RESPONSE_CACHE_TTL_SECONDS=0 keeps maxAge', async () => {
    await send(server, BOOK, { variables: { id: gid('Book', 1) } });
    const [key] = await responseKeys();
    const ttl = await server.redis.pttl(key!);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(RESPONSE_MAX_TTL_SECONDS * 1000);
    expect((await send(server, BOOK, { variables: { id: gid('Book', 1) } })).headers.get('cache-control')).toBe('max-age=60, public');

    const policyOnly = await startTestServer('sqlite', 'resp-policy-ttl', { responseCache: true, responseCacheTtlSeconds: 0 });
    try {
      await insertFixture(policyOnly.app.orm, { authors: 1, booksPerAuthor: 1, reviewsPerBook: 0 });
      await send(policyOnly, BOOK, { variables: { id: gid('Book', 1) } });
      const [policyKey] = await policyOnly.keys('*:r:*');
      const policyTtl = await policyOnly.redis.pttl(policyKey!);
      expect(policyTtl).toBeGreaterThan(0);
      expect(policyTtl).toBeLessThanOrEqual(60_000);
    } finally {
      await policyOnly.close();
    }
  });

  it('keys answers by variables and operation: another id is another entry', async () => {
    await send(server, BOOK, { variables: { id: gid('Book', 1) } });
    const other = await send(server, BOOK, { variables: { id: gid('Book', 2) } });
    expect(other.cache).toBe('MISS');
    expect(other.body.data.book.title).toBe('Book 1.2');
    expect(await responseKeys()).toHaveLength(2);
    expect((await send(server, BOOK, { variables: { id: gid('Book', 2) } })).body.data.book.title).toBe('Book 1.2');

    // The same variables in another key order (nested ones too) name the same answer.
    const PAGE = 'query($first: Int!, $order: BookOrder) { books(first: $first, orderBy: $order) { edges { node { id } } } }';
    const first = await send(server, PAGE, { variables: { first: 2, order: { field: 'PRICE', direction: 'ASC' } } });
    const reordered = await send(server, PAGE, { variables: { order: { direction: 'ASC', field: 'PRICE' }, first: 2 } });
    expect([first.cache, reordered.cache]).toEqual(['MISS', 'HIT']);
    expect(reordered.text).toBe(first.text);
  });

  it('a title change invalidates exactly the answers built from that book; the others stay hits', async () => {
    // Book 7 is the cheapest (fixture prices): it is on the first PRICE page; book 8 is not.
    const byPrice = await send(server, BOOKS_BY_PRICE);
    expect(byPrice.body.data.books.edges.map((e: any) => e.node.id)).toEqual([gid('Book', 7), gid('Book', 2), gid('Book', 9)]);
    const book7 = await send(server, BOOK, { variables: { id: gid('Book', 7) } });
    const book8 = await send(server, BOOK, { variables: { id: gid('Book', 8) } });
    const authors = await send(server, AUTHORS);
    expect(await responseKeys()).toHaveLength(4);

    server.counters.reset();
    const write = await send(server, RENAME, { variables: { id: gid('Book', 7), title: 'Renamed' } });
    expect(write.cache).toBe('BYPASS');
    expect(write.body.data.updateBook.title).toBe('Renamed');
    await server.settled();
    // The write path did nothing for the response cache: no response key was read, deleted or scanned.
    expect(server.counters.roundTrips.map((r) => r.operation)).not.toContain('responseLookup');
    expect(await responseKeys()).toHaveLength(4);

    const again = {
      byPrice: await send(server, BOOKS_BY_PRICE),
      book7: await send(server, BOOK, { variables: { id: gid('Book', 7) } }),
      book8: await send(server, BOOK, { variables: { id: gid('Book', 8) } }),
      authors: await send(server, AUTHORS),
    };
    expect(again.byPrice.cache).toBe('MISS');
    expect(again.byPrice.body.data.books.edges[0].node.title).toBe('Renamed');
    expect(again.book7.cache).toBe('MISS');
    expect(again.book7.body.data.book.title).toBe('Renamed');
    expect(again.book7.body.data.book.reviews).toEqual(book7.body.data.book.reviews);
    expect(again.book8.cache).toBe('HIT');
    expect(again.book8.text).toBe(book8.text);
    expect(again.authors.cache).toBe('HIT');
    expect(again.authors.text).toBe(authors.text);
    // The rebuilt answers are stored again.
    expect((await send(server, BOOKS_BY_PRICE)).cache).toBe('HIT');
    expect((await send(server, BOOK, { variables: { id: gid('Book', 7) } })).cache).toBe('HIT');
  });

  it('rebuilds a page answer after a price write from the snapshot: its range check reads no key of its own', async () => {
    const first = await send(server, BOOKS_BY_PRICE);
    expect((await send(server, BOOKS_BY_PRICE)).cache).toBe('HIT');
    const cheapest = first.body.data.books.edges[0].node.id as string;
    const moved = await send(server, 'mutation($id: ID!) { updateBook(id: $id, input: { priceCents: 1 }) { id } }', { variables: { id: cheapest } });
    expect(moved.body.errors).toBeUndefined();
    await server.settled();
    server.counters.reset();
    const after = await send(server, BOOKS_BY_PRICE);
    expect(after.cache).toBe('MISS');
    expect(after.body.data.books.edges[0].node).toMatchObject({ id: cheapest, priceCents: 1 });
    // The remembered answer's MGET (stale), its snapshot's MGET — which also answers the page's
    // generation and range tombstones, so the page's check costs no round trip, and tells the page
    // absent, so it is read without a lease (key-reader.ts) —, then its fill with the save. One SQL
    // statement: the page.
    const ops = server.counters.roundTrips.map((r) => r.operation);
    expect([...ops.slice(0, -2), ...ops.slice(-2).sort()]).toEqual(['responseLookup', 'responseLookup', 'responseSave', 'setMany']);
    expect(server.counters.statements()).toHaveLength(1);
  });

  describe('patching a stale answer instead of running its operation', () => {
    // The book at two places, one field under an alias; its author and its reviews (rows in a list).
    const BOOK_TWICE = 'query($id: ID!) { book(id: $id) { id name: title priceCents author { name } reviews(first: 2) { edges { node { rating } } } } again: book(id: $id) { title } }';
    const id = gid('Book', 3);
    /** What running the operation answers now: a traced request bypasses the cache and executes (its trace dropped here). */
    const executed = async () => `${JSON.stringify({ data: (await send(server, BOOK_TWICE, { variables: { id }, headers: { 'x-cache-trace': '1' } })).body.data })}\n`;

    it('a title write: the stale answer is patched where the title was written, byte for byte what running it answers', async () => {
      await send(server, BOOK_TWICE, { variables: { id } });
      expect((await send(server, BOOK_TWICE, { variables: { id } })).cache).toBe('HIT');
      await send(server, RENAME, { variables: { id, title: 'Patched "title" \u00e9' } });
      await server.settled();
      server.counters.reset();
      loaderLookups = 0;
      const patched = await send(server, BOOK_TWICE, { variables: { id } });
      expect([patched.cache, patches]).toEqual(['MISS', 1]);
      expect(patched.body.data.book.name).toBe('Patched "title" \u00e9');
      expect(patched.body.data.again.title).toBe('Patched "title" \u00e9');
      // No resolver ran: one loader lookup (the book, from the snapshot), one SQL statement (its row);
      // the remembered answer's MGET, its snapshot's, then the save with the book's fill. Written
      // through, the snapshot holds the new row: no SQL, nothing to fill.
      const through = writesThrough(server);
      expect([loaderLookups, server.counters.statements()]).toEqual([1, through ? [] : [expect.stringMatching(/from [`"]?book[`"]?/i)]]);
      const ops = server.counters.roundTrips.map((r) => r.operation);
      expect([...ops.slice(0, 2), ...ops.slice(2).sort()]).toEqual(['responseLookup', 'responseLookup', 'responseSave', ...(through ? [] : ['setMany'])]);
      expect(patched.text).toBe(await executed());
      // Stored: the next request hits it; and a second write patches the patched answer again.
      const again = await send(server, BOOK_TWICE, { variables: { id } });
      expect([again.cache, again.text]).toEqual(['HIT', patched.text]);
      await send(server, 'mutation($id: ID!) { updateBook(id: $id, input: { priceCents: 4321 }) { id } }', { variables: { id } });
      await server.settled();
      const repriced = await send(server, BOOK_TWICE, { variables: { id } });
      expect([repriced.cache, patches, repriced.body.data.book.priceCents]).toEqual(['MISS', 2, 4321]);
      expect(repriced.text).toBe(await executed());
    });

    it('runs the operation when a changed row moved a relation, a list changed, the row is in a list, or it is gone', async () => {
      // In a list (its author's books): such rows are not recorded, so their changes are not patched.
      const listed = 'query($id: ID!) { book(id: $id) { author { books(first: 10) { edges { node { id title } } } } } }';
      await send(server, listed, { variables: { id } });
      await send(server, RENAME, { variables: { id, title: 'Listed' } });
      await server.settled();
      const relisted = await send(server, listed, { variables: { id } });
      expect([relisted.cache, patches]).toEqual(['MISS', 0]);
      expect(relisted.body.data.book.author.books.edges.find((e: any) => e.node.id === id).node.title).toBe('Listed');
      await send(server, BOOK_TWICE, { variables: { id } });
      // Another author: Book.author read the foreign key, which changed (and both authors' lists moved).
      await send(server, 'mutation($id: ID!, $a: ID!) { updateBook(id: $id, input: { authorId: $a }) { id } }', { variables: { id, a: gid('Author', 2) } });
      await server.settled();
      const moved = await send(server, BOOK_TWICE, { variables: { id } });
      expect([moved.cache, patches, moved.body.data.book.author.name]).toEqual(['MISS', 0, 'Author 2']);
      expect(moved.text).toBe(await executed());
      // A review: the book's reviews list generation moved (the answer's shape may change).
      const withReviews = 'query($id: ID!) { book(id: $id) { title reviewCount } }';
      await send(server, withReviews, { variables: { id } });
      await send(server, 'mutation($id: ID!) { addReview(input: { bookId: $id, rating: 5, body: "new" }) { id } }', { variables: { id } });
      await server.settled();
      const reviewed = await send(server, withReviews, { variables: { id } });
      expect([reviewed.cache, patches, reviewed.body.data.book.reviewCount]).toEqual(['MISS', 0, 3]);
      // Gone: the row is null, so the patch refuses and the operation answers null.
      await send(server, BOOK_TWICE, { variables: { id } });
      await send(server, 'mutation($id: ID!) { deleteBook(id: $id) }', { variables: { id } });
      await server.settled();
      const gone = await send(server, BOOK_TWICE, { variables: { id } });
      expect([gone.cache, patches, gone.body.data.book]).toEqual(['MISS', 0, null]);
      // Why (response_cache_patch_refusals_total): a Book in a list; the foreign key Book.author read
      // changed; the delete took the book's reviews (rows in a list) too. The review moved a list
      // generation: no patch was even considered.
      expect(refusals).toEqual(['listed_or_unrecorded', 'does_not_apply', 'listed_or_unrecorded']);
    });
  });

  it('a new review invalidates the answers that show that book\'s reviews, not the book list', async () => {
    await send(server, BOOK, { variables: { id: gid('Book', 4) } });
    await send(server, BOOKS_BY_PRICE);
    const add = await send(server, 'mutation($id: ID!) { addReview(input: { bookId: $id, rating: 5, body: "new" }) { id } }', { variables: { id: gid('Book', 4) } });
    expect(add.body.errors).toBeUndefined();
    await server.settled();
    const book = await send(server, BOOK, { variables: { id: gid('Book', 4) } });
    expect(book.cache).toBe('MISS');
    expect(book.body.data.book.reviews.totalCount).toBe(3);
    expect((await send(server, BOOKS_BY_PRICE)).cache).toBe('HIT');
  });

  it('while no invalidation has happened, an answer is served on the clock alone; any invalidation brings back the full check', async () => {
    const { keyspace } = server.app.cache;
    // A dependency that moved without an invalidation (nothing the server does): the fast path does
    // not read dependencies, so the answer is still served — the witness that it took the fast path.
    const tamper = (book: number) => server.redis.set(keyspace.tombstone('Book', book), '999999999', 'PX', 60_000);
    const book = (id: number) => send(server, BOOK, { variables: { id: gid('Book', id) } });

    // A fresh epoch: no invalidation yet, no clock (it reads as 0).
    await server.redis.del(keyspace.clock());
    expect((await book(1)).cache).toBe('MISS');
    expect((await book(1)).cache).toBe('HIT');
    await tamper(1);
    expect((await book(1)).cache).toBe('HIT');

    // An invalidation of something else moves the clock: the dependencies are checked again, and
    // the tombstone now newer than the answer's clock makes it a miss.
    expect((await send(server, RENAME, { variables: { id: gid('Book', 7), title: 'Elsewhere' } })).body.errors).toBeUndefined();
    await server.settled();
    const clock = Number(await server.redis.get(keyspace.clock()));
    expect(clock).toBeGreaterThan(0);
    expect((await book(1)).cache).toBe('MISS');

    // The same with a clock that exists: unchanged since the build, the fast path serves.
    expect((await book(2)).cache).toBe('MISS');
    await tamper(2);
    expect((await book(2)).cache).toBe('HIT');
    expect(Number(await server.redis.get(keyspace.clock()))).toBe(clock);
  });

  it('an invalidation that only bumps a list generation moves the clock too', async () => {
    const { keyspace, invalidator } = server.app.cache;
    const clock = Number(await server.redis.get(keyspace.clock()) ?? 0);
    await invalidator.apply(new Evictions().family('authors'));
    expect(Number(await server.redis.get(keyspace.clock()))).toBe(clock + 1);
  });

  it('a clock lost while answers survive restarts above every value it handed out, so their dependencies still count', async () => {
    const { keyspace } = server.app.cache;
    // A long-lived deployment's clock, and a page answer recorded under it (its rows' tombstones are
    // compared with that clock).
    await server.redis.set(keyspace.clock(), '1000');
    const first = await send(server, BOOKS_BY_PRICE);
    expect((await send(server, BOOKS_BY_PRICE)).cache).toBe('HIT');
    const cheapest = first.body.data.books.edges[0].node.id as string;

    // The clock is evicted or deleted; the answer survives. A write to a book the answer holds:
    // counting from 1 again, its tombstone would look older than the answer, which would be served.
    await server.redis.del(keyspace.clock());
    expect((await send(server, RENAME, { variables: { id: cheapest, title: 'After the clock was lost' } })).body.errors).toBeUndefined();
    await server.settled();
    const clock = Number(await server.redis.get(keyspace.clock()));
    expect(clock).toBeGreaterThan(1000);
    expect(Number.isSafeInteger(clock)).toBe(true);
    const after = await send(server, BOOKS_BY_PRICE);
    expect(after.cache).toBe('MISS');
    expect(after.body.data.books.edges[0].node.title).toBe('After the clock was lost');
    // And it counts on from there.
    await server.app.cache.invalidator.apply(new Evictions().family('authors'));
    expect(Number(await server.redis.get(keyspace.clock()))).toBeGreaterThan(clock);
  });

  it('identical requests that miss at once build the answer once: the others wait for it and hit', async () => {
    await send(server, BOOK, { variables: { id: gid('Book', 2) } }); // caches their author
    const lookupsBefore = lookupMetrics(await (await fetch(`${server.url}/metrics`)).text());
    server.counters.reset();
    const alone = await send(server, BOOK, { variables: { id: gid('Book', 3) } });
    expect(alone.cache).toBe('MISS');
    const oneBuild = server.counters.statements().length;
    expect(oneBuild).toBeGreaterThan(0);

    server.counters.reset();
    const answers = await Promise.all(Array.from({ length: 8 }, () => send(server, BOOK, { variables: { id: gid('Book', 1) } })));
    expect(answers.map((a) => a.cache).sort()).toEqual(['HIT', 'HIT', 'HIT', 'HIT', 'HIT', 'HIT', 'HIT', 'MISS']);
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(server.counters.statements()).toHaveLength(oneBuild);
    // Requests that missed while it was being built waited for it (followers: a lookup before and
    // one after waiting); on a busy machine a late one may find it stored already (one lookup).
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const followers = Number(/catalog_response_cache_followers_total\{outcome="served"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(followers).toBeGreaterThanOrEqual(1);
    expect(metrics).not.toMatch(/catalog_response_cache_followers_total\{outcome="built"\}/);
    const lookups = server.counters.roundTrips.filter((r) => r.operation === 'responseLookup').length;
    expect(lookups).toBe(1 + followers * 2 + (7 - followers));
    expect(server.counters.roundTrips.filter((r) => r.operation === 'responseSave')).toHaveLength(1);
    // The metric counts requests, each by its last lookup: the builder's miss and 7 hits.
    const lookupsAfter = lookupMetrics(metrics);
    const delta = (result: string) => (lookupsAfter.get(result) ?? 0) - (lookupsBefore.get(result) ?? 0);
    expect([delta('hit'), delta('absent') + delta('invalidated')]).toEqual([7, 2]); // + the lone MISS above
  });

  it('a price change far from a PRICE page keeps its answer; one into the page makes it miss', async () => {
    const prices = await server.app.orm.em.fork().execute<{ id: number; price_cents: number }[]>('SELECT id, price_cents FROM book ORDER BY price_cents DESC, id DESC');
    const dearest = prices[0]!;
    const first = await send(server, BOOKS_BY_PRICE);
    expect(first.cache).toBe('MISS');
    const setPrice = (id: number, price: number) =>
      server.gql(`mutation { updateBook(id: "${gid('Book', id)}", input: { priceCents: ${price} }) { id } }`);

    // The dearest book gets dearer: nowhere near the three cheapest (range buckets apart).
    expect((await setPrice(Number(dearest.id), Number(dearest.price_cents) + 900)).errors).toBeUndefined();
    const kept = await send(server, BOOKS_BY_PRICE);
    expect(kept.cache).toBe('HIT');
    expect(kept.text).toBe(first.text);

    // Now it becomes the cheapest: the page's answer is rebuilt, with it first.
    expect((await setPrice(Number(dearest.id), 1)).errors).toBeUndefined();
    const moved = await send(server, BOOKS_BY_PRICE);
    expect(moved.cache).toBe('MISS');
    expect(moved.body.data.books.edges[0].node).toMatchObject({ id: gid('Book', Number(dearest.id)), priceCents: 1 });
  });

  it('writes that skip the resolvers (a native ORM update, caught by the change feed) invalidate too', async () => {
    await send(server, BOOK, { variables: { id: gid('Book', 5) } });
    await server.app.orm.em.fork().execute("UPDATE book SET title = 'Changed by SQL' WHERE id = 5");
    await server.settled();
    const after = await send(server, BOOK, { variables: { id: gid('Book', 5) } });
    expect(after.cache).toBe('MISS');
    expect(after.body.data.book.title).toBe('Changed by SQL');
  });

  it('an answer built while a write committed is never served: it is rebuilt', async () => {
    // The reader reads the old title, then waits at its fill while a writer commits and evicts.
    let release!: () => void;
    let arrived!: () => void;
    const atFill = new Promise<void>((r) => { arrived = r; });
    const gate = new Promise<void>((r) => { release = r; });
    await server.close();
    server = await startTestServer(driver, `respcache-race-${driver}`, { responseCache: true, authSecret: SECRET }, {
      beforeFill: async (name) => {
        if (name !== 'Book') return;
        arrived();
        await gate;
      },
    });
    await insertFixture(server.app.orm, { authors: 1, booksPerAuthor: 2, reviewsPerBook: 0 });
    const query = 'query($id: ID!) { book(id: $id) { title } }';
    const reading = send(server, query, { variables: { id: gid('Book', 1) } });
    await atFill;
    await server.app.orm.em.fork().execute("UPDATE book SET title = 'Newer' WHERE id = 1");
    await server.settled();
    release();
    const stale = await reading;
    expect(stale.body.data.book.title).toBe('Book 1.1'); // it read before the write: fine to answer once
    // It was stored (built from a read before the write), but it is not current: never served.
    const next = await send(server, query, { variables: { id: gid('Book', 1) } });
    expect(next.cache).toBe('MISS');
    expect(next.body.data.book.title).toBe('Newer');
    expect((await send(server, query, { variables: { id: gid('Book', 1) } })).body.data.book.title).toBe('Newer');
  });

  it('an answer built from a cached value whose invalidation was in flight is never served', async () => {
    // On a cluster an invalidation INCRs the clock one round trip before it writes the tombstone and
    // deletes the value: a reader in between sees the new clock with the old value. Played by hand here.
    const query = 'query($id: ID!) { book(id: $id) { title } }';
    await server.gql(query, { id: gid('Book', 1) }); // fills Book 1's entity key (and stores an answer, dropped next)
    for (const key of await responseKeys()) await server.redis.del(key);
    const keyspace = server.app.cache.keyspace;
    const clock = await server.redis.incr(keyspace.clock()); // the invalidation's first round trip
    const built = await send(server, query, { variables: { id: gid('Book', 1) } });
    expect(built.cache).toBe('MISS');
    expect(await responseKeys()).toHaveLength(1); // stored, from the cached (old) value and the new clock
    await server.redis.set(keyspace.tombstone('Book', 1), String(clock)); // …its second round trip
    await server.redis.del(keyspace.entity('Book', 1));
    // A single Redis cannot interleave like this (its invalidation is one atomic script), and there a
    // lookup whose clock has not moved since the build skips the dependencies; any later
    // invalidation moves it, and then the observed tombstone must be what refuses the answer.
    await server.redis.incr(keyspace.clock());
    const next = await send(server, query, { variables: { id: gid('Book', 1) } });
    expect(next.cache).toBe('MISS');
  });

  it('stores nothing for errors, mutations and uncacheable answers', async () => {
    const badCursor = await send(server, '{ books(first: 2, after: "nope") { edges { node { id } } } }');
    expect(badCursor.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const tooMany = await send(server, '{ books(first: 101) { edges { node { id } } } }');
    expect(tooMany.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const malformed = await send(server, '{ book(id: ');
    expect(malformed.body.errors[0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
    // A root field without a hint has maxAge 0 (Apollo's default): not cacheable.
    const typename = await send(server, '{ __typename }');
    expect(typename.headers.get('cache-control')).toBe('no-store');
    await send(server, RENAME, { variables: { id: gid('Book', 1), title: 'x' } });
    expect(await responseKeys()).toEqual([]);
    expect((await send(server, '{ __typename }')).cache).toBe('MISS');
  });

  it('PRIVATE answers are stored per viewer: never served to another viewer or to anonymous requests', async () => {
    const alice = (await send(server, SIGN_UP, { variables: { email: 'alice@example.com' } })).body.data.signUp.token as string;
    const bob = (await send(server, SIGN_UP, { variables: { email: 'bob@example.com' } })).body.data.signUp.token as string;
    await send(server, 'mutation($id: ID!) { addFavorite(bookId: $id) { id } }', { variables: { id: gid('Book', 2) }, token: alice });

    const a1 = await send(server, FAVORITES, { token: alice });
    expect(a1.cache).toBe('MISS');
    expect(a1.headers.get('cache-control')).toBe('max-age=60, private');
    const a2 = await send(server, FAVORITES, { token: alice });
    expect(a2.cache).toBe('HIT');
    expect(a2.text).toBe(a1.text);
    expect(a2.headers.get('cache-control')).toBe('max-age=60, private');

    const b1 = await send(server, FAVORITES, { token: bob });
    expect(b1.cache).toBe('MISS');
    expect(b1.body.data.viewer).toEqual({ email: 'bob@example.com', favorites: { totalCount: 0, edges: [] } });
    const anonymous = await send(server, FAVORITES);
    expect(anonymous.body.data.viewer).toBeNull();
    expect((await send(server, FAVORITES)).body.data.viewer).toBeNull();
    // One entry per viewer; none for the anonymous (PRIVATE without an owner).
    const keys = await responseKeys();
    expect(keys).toHaveLength(2);
    expect(keys.every((k) => /:a\d+$/.test(k))).toBe(true);

    // Alice's own write invalidates her answer (her favorites family moved).
    await send(server, 'mutation($id: ID!) { addFavorite(bookId: $id) { id } }', { variables: { id: gid('Book', 3) }, token: alice });
    const a3 = await send(server, FAVORITES, { token: alice });
    expect(a3.cache).toBe('MISS');
    expect(a3.body.data.viewer.favorites.totalCount).toBe(2);
    expect((await send(server, FAVORITES, { token: bob })).cache).toBe('HIT');
  });

  it('PUBLIC answers are shared between viewers and anonymous clients', async () => {
    const alice = (await send(server, SIGN_UP, { variables: { email: 'carol@example.com' } })).body.data.signUp.token as string;
    const anonymous = await send(server, AUTHORS);
    const signedIn = await send(server, AUTHORS, { token: alice });
    expect(signedIn.cache).toBe('HIT');
    expect(signedIn.text).toBe(anonymous.text);
    // A bad token is refused before any lookup, hit or not.
    const bad = await send(server, AUTHORS, { token: 'a.b.c' });
    expect(bad.status).toBe(401);
    expect(bad.cache).toBe('BYPASS');
  });

  it('a traced request bypasses the cache, so its trace shows the real work', async () => {
    await send(server, AUTHORS);
    const traced = await send(server, AUTHORS, { headers: { 'x-cache-trace': '1' } });
    expect(traced.cache).toBe('BYPASS');
    // The loaders ran: the authors page came from the (loader) cache, not from a stored answer.
    expect(traced.body.extensions.cache.hit.count).toBeGreaterThan(0);
    expect(traced.body.extensions.cache.redis.byOperation.responseLookup).toBeUndefined();
  });

  it('automatic persisted queries: registered in Redis, then a GET with only the hash is answered and cacheable', async () => {
    const sha256Hash = createHash('sha256').update(AUTHORS).digest('hex');
    const persistedQuery = { version: 1, sha256Hash };
    const unknown = await send(server, undefined, { method: 'GET', extensions: { persistedQuery } });
    expect(unknown.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');

    const registered = await send(server, AUTHORS, { extensions: { persistedQuery } });
    expect(registered.body.data.authors.edges).toHaveLength(2);
    expect(await server.keys(`pq:apq:${sha256Hash}`)).toHaveLength(1);

    // The hash alone, by GET (what a CDN caches): the same answer, from the response cache.
    const byHash = await send(server, undefined, { method: 'GET', extensions: { persistedQuery } });
    expect(byHash.cache).toBe('HIT');
    expect(byHash.text).toBe(registered.text);
    expect(byHash.headers.get('cache-control')).toBe('max-age=60, public');
  });

  it('GET requests without a preflight header are refused exactly as Apollo refuses them (CSRF), never served from the cache', async () => {
    await send(server, AUTHORS);
    const res = await fetch(`${server.url}/graphql?query=${encodeURIComponent(AUTHORS)}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('x-response-cache')).toBe('BYPASS');
  });
});

describe.each(testDrivers())('whole-response cache with the in-process tier on %s', (driver) => {
  it('serves repeats from memory, and rebuilds a written answer as without the tier (patching the changed book)', async () => {
    const servers = await Promise.all([
      startTestServer(driver, `resptier-on-${driver}`, { responseCache: true, localCacheMax: 1000 }),
      startTestServer(driver, `resptier-off-${driver}`, { responseCache: true }),
    ]);
    try {
      const rebuild: Record<string, string[]> = {};
      for (const [name, server] of [['tier', servers[0]], ['no tier', servers[1]]] as const) {
        await insertFixture(server.app.orm, { authors: 2, booksPerAuthor: 5, reviewsPerBook: 2 });
        const ask = () => send(server, BOOK, { variables: { id: gid('Book', 1) } });
        expect((await ask()).cache).toBe('MISS');
        expect((await ask()).cache).toBe('HIT');
        server.counters.reset();
        expect((await ask()).cache).toBe('HIT');
        const repeat = server.counters.roundTrips.map((r) => r.operation);
        // Copied at its Redis hit: from memory after the tier's barrier (a PING on its subscription).
        expect(repeat).toEqual(name === 'tier' ? ['localSync'] : ['responseLookup']);

        // Two writes: the first rebuild reads the author and the reviews from Redis (the first build
        // found them absent and filled them), so the second finds them held.
        for (const round of [1, 2]) {
          await send(server, RENAME, { variables: { id: gid('Book', 1), title: `Renamed ${round} (${name})` } });
          await server.keys(); // the change feed's repeat has settled
          server.counters.reset();
          const after = await ask();
          expect(after).toMatchObject({ cache: 'MISS', body: { data: { book: { title: `Renamed ${round} (${name})` } } } });
          rebuild[name] = server.counters.roundTrips.map((r) => r.operation);
        }
        // The book (none when written through); author and reviews from the cache.
        expect(server.counters.statements()).toHaveLength(writesThrough(server) ? 0 : 1);

        server.counters.reset();
        expect((await ask()).cache).toBe('HIT');
        expect(server.counters.roundTrips.map((r) => r.operation)).toEqual(name === 'tier' ? ['localSync'] : ['responseLookup']);
      }
      // With the tier, the write's message has already made the copy stale: the lookup goes to Redis
      // at once (no barrier), and the rebuild is the same as without it (below) — the stale answer
      // patched with the book read again.
      const lastTwo = (ops: string[]) => [...ops.slice(0, -2), ...ops.slice(-2).sort()];
      const expected = ['responseLookup', 'responseLookup', ...(writesThrough(servers[1]) ? ['responseSave'] : ['responseSave', 'setMany'])];
      expect(lastTwo(rebuild.tier!)).toEqual(expected);
      expect(lastTwo(rebuild['no tier']!)).toEqual(expected);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});

/** `response_cache_lookups_total` by result, from the metrics text. */
function lookupMetrics(text: string): Map<string, number> {
  return new Map([...text.matchAll(/^catalog_response_cache_lookups_total\{result="(\w+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

describe('RESPONSE_CACHE_TTL_SECONDS', () => {
  it('defaults to the longest an answer may live, takes 0 (its maxAge), refuses more or negative', () => {
    expect(readConfig({}).responseCacheTtlSeconds).toBe(RESPONSE_MAX_TTL_SECONDS);
    expect(readConfig({ RESPONSE_CACHE_TTL_SECONDS: '0' }).responseCacheTtlSeconds).toBe(0);
    expect(readConfig({ RESPONSE_CACHE_TTL_SECONDS: '120' }).responseCacheTtlSeconds).toBe(120);
    expect(() => readConfig({ RESPONSE_CACHE_TTL_SECONDS: String(RESPONSE_MAX_TTL_SECONDS + 1) })).toThrow(/at most/);
    expect(() => readConfig({ RESPONSE_CACHE_TTL_SECONDS: '-1' })).toThrow(/non-negative/);
  });
});

// A rebuild takes what the stale answer was built from as its lookup found it (a snapshot), not as
// it is when its loaders run. A write that lands in between must not survive in the stored answer:
// the answer records the snapshot's tombstones, so the next lookup finds it stale again.
describe('a rebuild from the lookup\'s snapshot', () => {
  const barrier = new FillBarrier();
  let server: TestServer;
  beforeEach(async () => {
    server = await startTestServer('sqlite', 'resp-snapshot', { responseCache: true }, { beforeFill: barrier.hook });
    await insertFixture(server.app.orm, { authors: 1, booksPerAuthor: 2, reviewsPerBook: 1 });
  });
  afterEach(() => server.close());

  it('reads nothing but the changed book, and a write racing it is seen by the next request', async () => {
    const id = gid('Book', 1);
    expect((await send(server, BOOK, { variables: { id } })).cache).toBe('MISS');
    await send(server, RENAME, { variables: { id, title: 'Renamed' } });
    await server.keys(); // the change feed's repeat has settled

    // The rebuild looks the answer up (stale: a snapshot comes back), reads the book, and waits.
    barrier.arm('Book');
    server.counters.reset();
    const rebuild = send(server, BOOK, { variables: { id } });
    await barrier.reached;
    // Meanwhile the author is renamed: the snapshot the rebuild holds has the old name.
    const renamed = await send(server, 'mutation($id: ID!) { updateAuthor(id: $id, input: { name: "Renamed author" }) { name } }', { variables: { id: gid('Author', 1) } });
    expect(renamed.body.errors).toBeUndefined();
    barrier.release();
    const built = await rebuild;
    expect(built.body.data.book).toMatchObject({ title: 'Renamed', author: { name: 'Author 1' } }); // it began before the author's rename
    expect(server.counters.statementsOn('book')).toHaveLength(1); // the book only: the rest from the snapshot

    const next = await send(server, BOOK, { variables: { id } });
    expect(next.cache).toBe('MISS'); // the stored rebuild recorded the author's old tombstone: stale
    expect(next.body.data.book.author.name).toBe('Renamed author');
  });
});
