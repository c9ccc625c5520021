import { insertFixture } from '../support/fixtures.ts';
import { testDrivers } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

// The reference query: 8 levels deep, three entity types, three kinds of connection.
const QUERY = `{ books(first: 20) { edges { node { title author { name books(first: 3) { edges { node { title } } } }
  reviews(first: 5) { totalCount edges { node { rating } } } } } } }`;

describe.each(testDrivers())('read path on %s', (driver) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(driver, `read-${driver}`);
    await insertFixture(server.app.orm, { authors: 10, booksPerAuthor: 4, reviewsPerBook: 3 });
  });
  afterAll(() => server.close());
  beforeEach(() => server.counters.reset());

  it('answers the reference query cold with one SQL statement per entity type per depth level', async () => {
    const cold = await server.gql(QUERY);
    expect(cold.errors).toBeUndefined();
    const books = cold.data.books.edges;
    expect(books).toHaveLength(20);
    expect(books[0].node.title).toBe('Book 10.4'); // newest first
    expect(books[0].node.author.books.edges.map((e: any) => e.node.title)).toEqual(['Book 10.4', 'Book 10.3', 'Book 10.2']);
    expect(books[0].node.reviews.totalCount).toBe(3);

    // Depth 1: the books page (its rows fill the book entities). Depth 4: authors by id, and
    // all 20 review pages in one ranked query. Depth 5: all 5 distinct authors' book pages in one.
    const { counters } = server;
    expect(counters.statements()).toHaveLength(4);
    expect(counters.statementsOn('author')).toHaveLength(1);
    expect(counters.statementsOn('review')).toHaveLength(1);
    expect(counters.statementsOn('book')).toHaveLength(2);
    expect(counters.statements().join('\n')).not.toMatch(/\boffset\b/i);
    // Redis: one lookup per depth, whose misses took their leases (and created the lists'
    // generations) in the same round trip, and all of the request's fills in one write at the end.
    const operations = counters.roundTrips.map((r) => r.operation);
    expect(operations.filter((op) => op !== 'getMany')).toEqual(['setMany']);
    expect(operations.at(-1)).toBe('setMany');
  });

  it('answers it warm with zero SQL and one Redis round trip per depth level at most', async () => {
    const cold = await server.gql(QUERY); // the first test may not have run alone
    server.counters.reset();
    const warm = await server.gql(QUERY);
    expect(warm.data).toEqual(cold.data);
    expect(server.counters.statements()).toEqual([]);
    // books page | book rows | authors + review pages | author book pages + review rows. The
    // author pages list books this request already holds (its DataLoader memo), so the fifth
    // level (book rows of the author pages) needs no round trip: 4 for 8 levels.
    const lookups = server.counters.roundTrips.filter((r) => r.operation === 'getMany');
    expect(lookups).toHaveLength(4);
    expect(server.counters.roundTrips).toHaveLength(4); // nothing written back when everything hit
  });

  it('caches ids in pages and rows in entity keys, each with its type\'s TTL', async () => {
    await server.gql(QUERY);
    const pageKeys = await server.keys('*:p:*');
    const entityKeys = await server.keys('*:e:*');
    // 1 books page + 5 author pages + 20 review pages; 20 + 5*3(overlapping) books, 5 authors, 60 reviews
    expect(pageKeys.filter((k) => k.includes(':p:{books.ID:'))).toHaveLength(1);
    expect(pageKeys.filter((k) => /:p:\{author\.\d+\.books\.ID:/.test(k))).toHaveLength(5);
    expect(pageKeys.filter((k) => /:p:\{book\.\d+\.reviews:/.test(k))).toHaveLength(20);
    expect(entityKeys.filter((k) => k.includes(':e:{Author:'))).toHaveLength(5);
    expect(entityKeys.filter((k) => k.includes(':e:{Review:'))).toHaveLength(60);

    const page = JSON.parse((await server.redis.get(pageKeys.find((k) => k.includes(':p:{books.ID:'))!))!);
    expect(page.v.ids).toHaveLength(20); // ids, never entity copies
    expect(page.v).not.toHaveProperty('title');
    const ttlBook = await server.redis.ttl(entityKeys.find((k) => k.includes(':e:{Book:'))!);
    const ttlPage = await server.redis.ttl(pageKeys[0]!);
    expect(ttlBook).toBeGreaterThan(290); // Book @cacheControl(maxAge: 300)
    expect(ttlBook).toBeLessThanOrEqual(300);
    expect(ttlPage).toBeGreaterThan(50); // BookConnection @cacheControl(maxAge: 60)
    expect(ttlPage).toBeLessThanOrEqual(60);
  });
});
