import { insertFixture } from './fixtures.ts';
import { bumped, cachedEntities, generations, rangeTombstones, reordered } from './cache-snapshot.ts';
import type { TestServer } from './test-server.ts';
import { gid } from './ids.ts';

/**
 * Read → write → read over HTTP. Each write must make exactly the right cached data stale:
 * the families whose generation moved and the entity keys that disappeared are asserted exactly.
 * Shared by the single-Redis suite (every database driver) and the Redis Cluster suite: `start`
 * gives a fresh server for each case.
 */
export function invalidationCases(start: () => Promise<TestServer>): void {
  let server: TestServer;

  beforeEach(async () => {
    server = await start();
    // Authors 1..3, 3 books each (book 3k+b belongs to author k+1), 2 reviews per book.
    await insertFixture(server.app.orm, { authors: 3, booksPerAuthor: 3, reviewsPerBook: 2 });
  });
  afterEach(() => server.close());

  const BOOKS = `query($order: BookOrder, $author: ID) { books(first: 20, orderBy: $order, authorId: $author) {
    totalCount edges { node { id title priceCents author { id name } } } } }`;
  const AUTHOR = `query($id: ID!) { author(id: $id) { name books(first: 10) { totalCount edges { node { id title } } } } }`;
  const BOOK = `query($id: ID!) { book(id: $id) { title reviewCount averageRating reviews(first: 10) { totalCount edges { node { id rating } } } } }`;

  async function warm(...queries: [string, Record<string, unknown>?][]) {
    for (const [query, variables] of queries) expect((await server.gql(query, variables)).errors).toBeUndefined();
  }

  /**
   * Whether an updateBook writes the row it committed in place of the evicted one, and addReview
   * what the book's next read needs (PostgreSQL's feed recognises its own commits, on a single
   * Redis: GraphQLContext.writeThrough).
   */
  const writesThrough = () => Boolean(server.app.changeFeed?.ownCommits) && server.app.cache.redis?.isCluster === false;
  const cachedBook = async (id: number) => JSON.parse((await server.redis.get(server.app.cache.keyspace.entity('Book', id))) ?? 'null');

  it("a book's title change evicts that book and only the title-ordered lists", async () => {
    await warm([BOOKS], [BOOKS, { order: { field: 'PRICE', direction: 'ASC' } }], [AUTHOR, { id: gid('Author', 1) }]);
    const gens = await generations(server);

    const res = await server.gql(`mutation { updateBook(id: "${gid('Book', 2)}", input: { title: "Renamed" }) { title } }`);
    expect(res.data.updateBook.title).toBe('Renamed');
    // Lists ordered by TITLE would reorder, so their families move; no other list does.
    expect(bumped(gens, await generations(server))).toEqual(['author.1.books.TITLE', 'books.TITLE']);
    if (writesThrough()) expect((await cachedBook(2)).v).toMatchObject({ id: 2, title: 'Renamed' });
    else expect(await cachedEntities(server)).not.toContain('Book:2');

    server.counters.reset();
    const after = await server.gql(BOOKS);
    expect(after.data.books.edges.find((e: any) => e.node.id === gid('Book', 2)).node.title).toBe('Renamed');
    // The page was still valid: only the evicted book is read again, by id (none when it was
    // written through).
    if (writesThrough()) {
      expect(server.counters.statements()).toEqual([]);
    } else {
      expect(server.counters.statements()).toHaveLength(1);
      expect(server.counters.statementsOn('book')[0]).toMatch(/where id in/i);
    }
  });

  it('a price change invalidates the price-ordered lists around the old and new price, and nothing about authors', async () => {
    const order = { field: 'PRICE', direction: 'ASC' };
    await warm([BOOKS], [BOOKS, { order }], [AUTHOR, { id: gid('Author', 2) }]);
    const gens = await generations(server);
    const ranges = await rangeTombstones(server);
    const entitiesBefore = await cachedEntities(server);

    await server.gql(`mutation { updateBook(id: "${gid('Book', 5)}", input: { priceCents: 1 }) { priceCents } }`);
    // Same members in a new order: no generation moves; the range buckets of both prices do.
    expect(bumped(gens, await generations(server))).toEqual([]);
    expect(reordered(ranges, await rangeTombstones(server))).toEqual(['author.2.books.PRICE', 'books.PRICE']);
    const notBook5 = (k: string) => !k.startsWith('Book:5');
    const entitiesAfter = await cachedEntities(server);
    expect(entitiesBefore.filter(notBook5)).toEqual(entitiesAfter.filter(notBook5));
    if (writesThrough()) expect((await cachedBook(5)).v).toMatchObject({ id: 5, priceCents: 1 });
    else expect(entitiesAfter).not.toContain('Book:5');

    server.counters.reset();
    const cheapest = await server.gql(BOOKS, { order });
    expect(cheapest.data.books.edges[0].node).toMatchObject({ id: gid('Book', 5), priceCents: 1 });
    expect(server.counters.statementsOn('author')).toEqual([]); // authors stayed cached
  });

  it("moving a book to another author refreshes both authors' lists and totalCounts", async () => {
    await warm([AUTHOR, { id: gid('Author', 1) }], [AUTHOR, { id: gid('Author', 2) }], [BOOKS, { author: gid('Author', 2) }]);
    const gens = await generations(server);

    await server.gql(`mutation { updateBook(id: "${gid('Book', 1)}", input: { authorId: "${gid('Author', 2)}" }) { author { id } } }`);
    const moved = bumped(gens, await generations(server));
    expect(moved).toEqual([1, 2].flatMap((a) => ['ID', 'PRICE', 'PUBLISHED_YEAR', 'TITLE'].map((f) => `author.${a}.books.${f}`)).sort());

    const one = await server.gql(AUTHOR, { id: gid('Author', 1) });
    const two = await server.gql(AUTHOR, { id: gid('Author', 2) });
    expect(one.data.author.books.totalCount).toBe(2);
    expect(one.data.author.books.edges.map((e: any) => e.node.id)).not.toContain(gid('Book', 1));
    expect(two.data.author.books.totalCount).toBe(4);
    expect(two.data.author.books.edges.map((e: any) => e.node.id)).toContain(gid('Book', 1));
    const filtered = await server.gql(BOOKS, { author: gid('Author', 2) });
    expect(filtered.data.books.totalCount).toBe(4);
  });

  it("adding and deleting a review updates the book's reviewCount, averageRating and reviews", async () => {
    const id = gid('Book', 4);
    const before = await server.gql(BOOK, { id });
    expect(before.data.book.reviewCount).toBe(2);
    const gens = await generations(server);

    const added = await server.gql(`mutation { addReview(input: { bookId: "${id}", rating: 5, body: "Great" }) { id rating book { id } } }`);
    expect(bumped(gens, await generations(server))).toEqual(['book.4.reviews']);
    if (writesThrough()) {
      // Carried forward by the write (review-write-through.ts): the counts and the new review.
      const stats = JSON.parse((await server.redis.get(server.app.cache.keyspace.entity('BookStats', 4))) ?? 'null');
      expect(stats?.v.count ?? 3).toBe(3);
    } else {
      expect(await cachedEntities(server)).not.toContain('BookStats:4');
    }

    const withReview = await server.gql(BOOK, { id });
    const ratings = [...before.data.book.reviews.edges.map((e: any) => e.node.rating), 5];
    expect(withReview.data.book).toMatchObject({ reviewCount: 3, averageRating: ratings.reduce((a: number, b: number) => a + b) / 3 });
    expect(withReview.data.book.reviews.totalCount).toBe(3);
    expect(withReview.data.book.reviews.edges[0].node.id).toBe(added.data.addReview.id);

    await server.gql(`mutation { deleteReview(id: "${added.data.addReview.id}") }`);
    const again = await server.gql(BOOK, { id });
    expect(again.data.book).toEqual(before.data.book);
    expect((await server.gql(`{ node(id: "${added.data.addReview.id}") { id } }`)).data.node).toBeNull();
  });

  it("deleting an author removes their books and those books' reviews from every list, count and lookup", async () => {
    const review = gid('Review', 1); // of book 1, by author 1
    await warm([BOOKS], [BOOKS, { order: { field: 'TITLE', direction: 'ASC' } }], [AUTHOR, { id: gid('Author', 1) }],
      [BOOK, { id: gid('Book', 1) }], [`{ node(id: "${review}") { id } }`]);
    expect(await cachedEntities(server)).toEqual(expect.arrayContaining(['Author:1', 'Book:1', 'BookStats:1', 'Review:1']));

    const res = await server.gql(`mutation { deleteAuthor(id: "${gid('Author', 1)}") }`);
    expect(res.data.deleteAuthor).toBe(gid('Author', 1));
    const left = await cachedEntities(server);
    for (const key of ['Author:1', 'Book:1', 'Book:2', 'Book:3', 'BookStats:1', 'Review:1', 'Review:2']) expect(left).not.toContain(key);

    const all = await server.gql(BOOKS);
    expect(all.data.books.totalCount).toBe(6);
    expect(all.data.books.edges.every((e: any) => e.node.author.id !== gid('Author', 1))).toBe(true);
    const byTitle = await server.gql(BOOKS, { order: { field: 'TITLE', direction: 'ASC' } });
    expect(byTitle.data.books.totalCount).toBe(6);
    const lookups = await server.gql(`{ a: author(id: "${gid('Author', 1)}") { id } b: book(id: "${gid('Book', 1)}") { id }
      r: node(id: "${review}") { id } }`);
    expect(lookups.data).toEqual({ a: null, b: null, r: null });
  });
}
