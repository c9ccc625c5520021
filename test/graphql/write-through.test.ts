import { Client } from 'pg';
import { testDrivers } from '../support/database.ts';
import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const BOOK = 'query($id: ID!) { book(id: $id) { id title isbn priceCents author { id name } } }';
const UPDATE = 'mutation($id: ID!, $input: UpdateBookInput!) { updateBook(id: $id, input: $input) { id title isbn } }';
const REVIEWS = 'query($id: ID!) { book(id: $id) { reviewCount reviews(first: 5) { totalCount edges { node { id rating } } } } }';
const ADD_REVIEW = 'mutation($bookId: ID!, $rating: Int!) { addReview(input: {bookId: $bookId, rating: $rating}) { id } }';
const DELETE_REVIEW = 'mutation($id: ID!) { deleteReview(id: $id) }';
const CREATE_BOOK = 'mutation($input: CreateBookInput!) { createBook(input: $input) { id } }';

// On PostgreSQL a mutation writes the row it committed in its own invalidation, and the change
// feed recognises that commit's notification and does not invalidate it a second time (which
// would delete the row again): the next read of the book needs no SQL (own-commits.ts). Inserts
// and deletes (reviews, books) are skipped by the feed the same way, without a fill.
(testDrivers().includes('postgresql') ? describe : describe.skip)('a mutation writes its committed row through (PostgreSQL)', () => {
  let server: TestServer;
  let writer: Client;

  beforeAll(async () => {
    server = await startTestServer('postgresql', 'write-through', { responseCache: true });
    // Authors 1..2, 2 books each: book 1 is "Book 1.1" (isbn-1-1) by author 1.
    await insertFixture(server.app.orm, { authors: 2, booksPerAuthor: 2, reviewsPerBook: 1 });
    writer = new Client({ connectionString: server.db.url });
    await writer.connect();
  });
  afterAll(async () => {
    await writer?.end();
    await server?.close();
  });

  const ownCommits = () => server.app.changeFeed!.ownCommits!;
  const entityKey = (id: number) => server.app.cache.keyspace.entity('Book', id);
  const invalidations = () => server.counters.roundTrips.filter((rt) => rt.operation === 'invalidate').length;

  it('fills the updated row in the one invalidation of the write; the feed skips its notification; the next read runs no SQL', async () => {
    expect((await server.gql(BOOK, { id: gid('Book', 1) })).data.book.title).toBe('Book 1.1');
    await server.settled();
    // On a saturated machine the clock read before COMMIT may time out: the write then only
    // invalidates (a guard of 0 fills nothing), by design. So up to three writes, one of which must fill.
    let filled: unknown = null;
    for (let attempt = 1; attempt <= 3 && filled === null; attempt++) {
      server.counters.reset();
      const updated = await server.gql(UPDATE, { id: gid('Book', 1), input: { title: `Written through ${attempt}` } });
      expect(updated.errors).toBeUndefined();
      await server.settled(); // the feed has seen the commit's notification
      expect(invalidations()).toBe(1); // the mutation's own; the feed's repeat was skipped
      expect(ownCommits().size()).toBe(0);
      const stored = await server.redis.get(entityKey(1));
      filled = stored === null ? null : JSON.parse(stored);
      if (filled !== null) {
        expect(filled).toEqual({
          v: { id: 1, title: `Written through ${attempt}`, isbn: 'isbn-1-1', priceCents: expect.any(Number), publishedYear: expect.anything(), authorId: 1 },
        });
        server.counters.reset();
        const read = await server.gql(BOOK, { id: gid('Book', 1) });
        expect(read.data.book).toMatchObject({ title: `Written through ${attempt}`, isbn: 'isbn-1-1' });
        expect(server.counters.statements()).toEqual([]);
      }
    }
    expect(filled).not.toBeNull();
  });

  it('still invalidates a later plain-SQL write that repeats the same change (its notification comes after ours)', async () => {
    await server.gql(UPDATE, { id: gid('Book', 2), input: { title: 'Ours' } });
    await server.settled();
    // Another program: back to the old title, then the same title change as ours again, with a new isbn.
    await writer.query(`UPDATE book SET title = 'Book 1.2' WHERE id = 2`);
    await writer.query(`UPDATE book SET title = 'Ours', isbn = 'isbn-by-psql' WHERE id = 2`);
    await server.settled();
    expect((await server.gql(BOOK, { id: gid('Book', 2) })).data.book).toMatchObject({ title: 'Ours', isbn: 'isbn-by-psql' });
    expect(ownCommits().size()).toBe(0);
  });

  it('invalidates an inserted or deleted review once, by the mutation: the feed skips its notification', async () => {
    const reviews = async () => (await server.gql(REVIEWS, { id: gid('Book', 4) })).data.book;
    expect(await reviews()).toMatchObject({ reviewCount: 1, reviews: { totalCount: 1 } });
    await server.settled();
    server.counters.reset();
    const added = await server.gql(ADD_REVIEW, { bookId: gid('Book', 4), rating: 2 });
    expect(added.errors).toBeUndefined();
    await server.settled();
    expect([invalidations(), ownCommits().size()]).toEqual([1, 0]);
    // Written through (the snapshot before the transaction read the cached counts and head page):
    // the next read of the book's reviews runs no SQL, and shows what the database holds.
    const carried = await server.redis.get(server.app.cache.keyspace.entity('BookStats', 4));
    server.counters.reset();
    const after = await reviews();
    expect(after).toMatchObject({ reviewCount: 2, reviews: { totalCount: 2 } });
    expect(after.reviews.edges.map((e: { node: unknown }) => e.node)).toEqual([
      { id: added.data.addReview.id, rating: 2 }, // newest first
      expect.objectContaining({ id: expect.any(String) }),
    ]);
    if (carried !== null) expect(server.counters.statements()).toEqual([]);
    const truth = await writer.query('SELECT count(*)::int AS n, sum(rating)::int AS s FROM review WHERE book_id = 4');
    expect(JSON.parse(carried ?? '{"v":{"count":2,"ratingSum":0}}').v.count).toBe(truth.rows[0].n);
    if (carried !== null) expect(JSON.parse(carried).v.ratingSum).toBe(truth.rows[0].s);

    server.counters.reset();
    expect((await server.gql(DELETE_REVIEW, { id: added.data.addReview.id })).errors).toBeUndefined();
    await server.settled();
    expect([invalidations(), ownCommits().size()]).toEqual([1, 0]);
    expect(await reviews()).toMatchObject({ reviewCount: 1, reviews: { totalCount: 1 } });

    server.counters.reset();
    const created = await server.gql(CREATE_BOOK, { input: { title: 'New', isbn: 'isbn-new', priceCents: 100, authorId: gid('Author', 1) } });
    expect(created.errors).toBeUndefined();
    await server.settled();
    expect([invalidations(), ownCommits().size()]).toEqual([1, 0]);

    // Another program's insert of a review is still invalidated by the feed.
    server.counters.reset();
    await writer.query(`INSERT INTO review (rating, body, book_id) VALUES (5, 'psql', 4)`);
    await server.settled();
    expect(invalidations()).toBe(1);
    expect(await reviews()).toMatchObject({ reviewCount: 2, reviews: { totalCount: 2 } });
  });

  it('registers nothing for a review of an unknown book', async () => {
    server.counters.reset();
    const failed = await server.gql(ADD_REVIEW, { bookId: gid('Book', 999), rating: 3 });
    expect(failed.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect([invalidations(), ownCommits().size()]).toEqual([0, 0]);
  });

  it('registers and fills nothing for a write that fails (duplicate isbn) or changes nothing', async () => {
    await server.gql(BOOK, { id: gid('Book', 3) });
    await server.settled();
    server.counters.reset();
    const duplicate = await server.gql(UPDATE, { id: gid('Book', 3), input: { isbn: 'isbn-1-1' } });
    expect(duplicate.errors?.[0]?.extensions?.code).toBeDefined();
    expect(ownCommits().size()).toBe(0);
    expect(invalidations()).toBe(0);

    const same = await server.gql(UPDATE, { id: gid('Book', 3), input: { title: 'Book 2.1' } });
    expect(same.data.updateBook.title).toBe('Book 2.1');
    expect(ownCommits().size()).toBe(0);
    expect((await server.gql(BOOK, { id: gid('Book', 3) })).data.book.title).toBe('Book 2.1');
  });
});
