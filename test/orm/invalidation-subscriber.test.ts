import { bucketsOfValue } from '../../src/cache/range-buckets.ts';
import { Author, Book, Review } from '../../src/orm/entities/index.ts';
import { testDrivers } from '../support/database.ts';
import { insertFixture } from '../support/fixtures.ts';
import { bumped, cachedEntities, generations } from '../support/cache-snapshot.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { gid } from '../support/ids.ts';

const BOOK = `query($id: ID!) { book(id: $id) { title priceCents reviewCount averageRating author { id books(first: 10) { totalCount } } } }`;

// Writes made through the ORM outside GraphQL (a script, a job): only the subscriber sees them.
describe.each(testDrivers())('ORM subscriber invalidation on %s', (driver) => {
  let server: TestServer;

  beforeEach(async () => {
    server = await startTestServer(driver, `sub-${driver}`);
    await insertFixture(server.app.orm, { authors: 2, booksPerAuthor: 2, reviewsPerBook: 2 });
    await server.gql(BOOK, { id: gid('Book', 1) });
    await server.gql(BOOK, { id: gid('Book', 3) });
  });
  afterEach(() => server.close());

  it('an em.flush outside any request evicts what it changed once the implicit transaction committed', async () => {
    const gens = await generations(server);
    const em = server.app.orm.em.fork();
    const book = await em.findOneOrFail(Book, 1);
    book.title = 'Changed by a script';
    await em.flush();

    expect(await cachedEntities(server)).not.toContain('Book:1');
    expect(bumped(gens, await generations(server))).toEqual(['author.1.books.TITLE', 'books.TITLE']);
    expect((await server.gql(BOOK, { id: gid('Book', 1) })).data.book.title).toBe('Changed by a script');
  });

  it('a book moved with the ORM refreshes both authors, from the change set\'s original values', async () => {
    const em = server.app.orm.em.fork();
    const book = await em.findOneOrFail(Book, 1);
    book.author = em.getReference(Author, 2);
    await em.flush();

    const moved = await server.gql(BOOK, { id: gid('Book', 1) });
    expect(moved.data.book.author).toEqual({ id: gid('Author', 2), books: { totalCount: 3 } });
    expect((await server.gql(BOOK, { id: gid('Book', 2) })).data.book.author.books.totalCount).toBe(1);
  });

  it('an explicit transaction evicts only after it commits, and a rollback evicts nothing', async () => {
    const em = server.app.orm.em.fork();
    await expect(em.transactional(async (tx) => {
      const book = await tx.findOneOrFail(Book, 1);
      book.priceCents = 1;
      await tx.flush();
      throw new Error('the job fails after flushing');
    })).rejects.toThrow('the job fails');
    expect(await cachedEntities(server)).toContain('Book:1');
    expect((await server.gql(BOOK, { id: gid('Book', 1) })).data.book.priceCents).not.toBe(1);

    let cachedDuringTransaction: string[] = [];
    await em.fork().transactional(async (tx) => {
      const book = await tx.findOneOrFail(Book, 1);
      book.priceCents = 2;
      await tx.flush();
      cachedDuringTransaction = await cachedEntities(server);
    });
    expect(cachedDuringTransaction).toContain('Book:1'); // not evicted before the commit
    expect(await cachedEntities(server)).not.toContain('Book:1');
    expect((await server.gql(BOOK, { id: gid('Book', 1) })).data.book.priceCents).toBe(2);
  });

  it('new and changed reviews refresh the aggregate', async () => {
    const em = server.app.orm.em.fork();
    em.create(Review, { rating: 5, body: 'Imported', book: em.getReference(Book, 3), createdAt: new Date() });
    await em.flush();
    expect((await server.gql(BOOK, { id: gid('Book', 3) })).data.book.reviewCount).toBe(3);

    const review = await em.findOneOrFail(Review, { book: 3 }, { orderBy: { id: 'asc' } });
    review.rating = 1;
    await em.flush();
    const ratings = (await em.fork().find(Review, { book: 3 })).map((r) => r.rating);
    expect((await server.gql(BOOK, { id: gid('Book', 3) })).data.book.averageRating)
      .toBeCloseTo(ratings.reduce((a, b) => a + b) / ratings.length);
  });

  it('removing an author with the ORM evicts the books and reviews the database cascades to', async () => {
    await server.gql(`{ node(id: "${gid('Review', 1)}") { id } }`);
    const em = server.app.orm.em.fork();
    em.remove(em.getReference(Author, 1));
    await em.flush();

    const left = await cachedEntities(server);
    for (const key of ['Author:1', 'Book:1', 'BookStats:1', 'Review:1']) expect(left).not.toContain(key);
    const res = await server.gql(`{ book(id: "${gid('Book', 1)}") { id } r: node(id: "${gid('Review', 1)}") { id } books { totalCount } }`);
    expect(res.data).toEqual({ book: null, r: null, books: { totalCount: 2 } });
  });

  it("a mutation's own evictions and the subscriber's leave together, merged", async () => {
    const [row] = await server.app.orm.em.fork().getConnection().execute<{ price_cents: number }[]>('SELECT price_cents FROM book WHERE id = 1');
    const oldPrice = row!.price_cents;
    server.counters.reset();
    await server.gql(`mutation { updateBook(id: "${gid('Book', 1)}", input: { priceCents: 7, title: "Both" }) { id } }`);
    await server.settled();
    const invalidations = server.counters.roundTrips.filter((r) => r.operation === 'invalidate');
    // One round trip, one script: the clock's INCR, the tombstone and DEL of Book:1, the INCR of
    // the 2 TITLE families (books/author.1), the range bucket tombstones of the old and the new
    // price in the 2 PRICE families (same members, new order), the PUBLISH of the evicted keys (for
    // in-process tiers) and a GET of the epoch (an invalidation that raced an epoch bump is redone
    // in the new epoch) — each requested by the resolver, the subscriber and (SQLite) the change
    // capture, sent once. On PostgreSQL the trigger's NOTIFY arrives after the commit: the feed
    // recognises this process's own commit, already invalidated, and does not evict it again
    // (own-commits.ts).
    expect(invalidations).toEqual([{ operation: 'invalidate', commands: 1 }]);
    const ranges = await server.keys('*:t:{*}:*'); // range buckets, not entity tombstones
    const buckets = new Set([...bucketsOfValue(Number(oldPrice)), ...bucketsOfValue(7)]).size;
    expect(ranges).toHaveLength(2 * buckets);
    expect(ranges.filter((k) => k.includes('{books.PRICE}'))).toHaveLength(buckets);
  });
});
