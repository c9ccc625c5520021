import fc from 'fast-check';
import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

/** Pieces of real operations, to build queries that are almost right as well as plain garbage. */
const FRAGMENTS = ['{', '}', '(', ')', ':', '$x', '...', 'query', 'mutation', 'books', 'book', 'author', 'node', 'edges', 'title',
  'first:', 'after:', '"', '1e9', '-1', '101', 'null', '@skip(if: true)', 'fragment F on Book', '__schema', '__typename', 'id:', '#'];
const MUTATIONS = [
  'mutation($id: ID!) { deleteBook(id: $id) }',
  'mutation($id: ID!) { deleteAuthor(id: $id) }',
  'mutation($id: ID!, $t: String) { updateBook(id: $id, input: { title: $t }) { id } }',
  'mutation($b: ID!, $r: Int!) { addReview(input: { bookId: $b, rating: $r }) { id } }',
  'mutation($a: ID!, $p: Int!) { createBook(input: { title: "x", isbn: "isbn-1-1", priceCents: $p, authorId: $a }) { id } }',
];

const query = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 40 }).map((parts) => parts.join(' ')),
);
// Variables that are never valid for a write: unknown or malformed ids, ratings out of range, a
// taken isbn (in createBook above), negative prices — so every mutation here must be refused.
const hostileId = fc.oneof(fc.string({ maxLength: 30 }), fc.constant(gid('Book', 999_999)), fc.constant(gid('Review', 1)), fc.constant(''));
const variables = fc.record({
  id: hostileId, b: hostileId, a: hostileId,
  t: fc.oneof(fc.string({ maxLength: 20 }), fc.constant('\u0000'), fc.constant('x'.repeat(300))),
  r: fc.oneof(fc.integer({ min: -1000, max: 0 }), fc.integer({ min: 6, max: 1000 })),
  p: fc.integer({ min: -10_000_000, max: -1 }),
}, { requiredKeys: [] });
const body = fc.oneof(
  fc.record({ query, variables: fc.option(variables, { nil: undefined }) }).map((b) => JSON.stringify(b)),
  fc.record({ query: fc.constantFrom(...MUTATIONS), variables }).map((b) => JSON.stringify(b)),
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 300 }),
);

// Random and malformed queries, variables and bodies: the server never crashes, never answers
// 5xx, explains every refusal with extensions.code, and neither the database nor the cache moves.
describe('hostile input, property-based', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', 'fuzz');
    await insertFixture(server.app.orm, { authors: 2, booksPerAuthor: 2, reviewsPerBook: 2 });
  });
  afterAll(() => server.close());

  const snapshot = async () => Promise.all(['author', 'book', 'review'].map((t) =>
    server.app.orm.em.fork().execute(`SELECT * FROM ${t} ORDER BY id`)));

  it('never fails with a 5xx, always gives a code, and changes nothing', async () => {
    const rowsBefore = await snapshot();
    let requests = 0;
    await fc.assert(fc.asyncProperty(body, async (text) => {
      server.counters.reset();
      const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
      requests++;
      expect(res.status).toBeLessThan(500);
      const answer = (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
      for (const error of answer.errors ?? []) expect(typeof error.extensions?.code).toBe('string');
      expect(server.counters.roundTrips.filter((r) => r.operation === 'invalidate')).toEqual([]);
    }), { numRuns: 400, seed: 20261125 });
    expect(requests).toBe(400);
    expect(await snapshot()).toEqual(rowsBefore);
    expect((await server.gql('{ books { totalCount } }')).data).toEqual({ books: { totalCount: 4 } }); // still serving
  }, 120_000);
});
