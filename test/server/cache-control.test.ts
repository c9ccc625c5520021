import { loadTypeDefs } from '../../src/graphql/schema.ts';
import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

async function get(server: TestServer, query: string) {
  const res = await fetch(`${server.url}/graphql?query=${encodeURIComponent(query)}`, { headers: { 'apollo-require-preflight': 'true' } });
  return { status: res.status, cacheControl: res.headers.get('cache-control'), body: (await res.json()) as { data?: unknown; errors?: unknown[] } };
}

// HTTP caching follows the schema's @cacheControl hints with Apollo's rules (field-cache-hints.ts;
// the rules themselves: field-cache-hints.test.ts): the response's maxAge is the minimum over the fields it contains.
describe('Cache-Control headers', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', 'cachecontrol');
    await insertFixture(server.app.orm, { authors: 1, booksPerAuthor: 2, reviewsPerBook: 1 });
  });
  afterAll(() => server.close());

  it('gives a cacheable GET query the minimum maxAge of what it read, public', async () => {
    expect((await get(server, `{ book(id: "${gid('Book', 1)}") { title author { name } } }`)).cacheControl).toBe('max-age=300, public');
    // A connection (maxAge 60) lowers the whole response to 60.
    expect((await get(server, '{ books { totalCount edges { node { title } } pageInfo { hasNextPage } } }')).cacheControl).toBe('max-age=60, public');
  });

  it('marks mutations, failed and uncacheable responses no-store', async () => {
    const mutation = await fetch(`${server.url}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `mutation { updateAuthor(id: "${gid('Author', 1)}", input: { bio: "b" }) { name } }` }),
    });
    expect(mutation.headers.get('cache-control')).toBe('no-store');
    expect((await get(server, '{ books(first: 101) { totalCount } }')).cacheControl).toBe('no-store');
    // __typename alone reads no hinted field: Apollo leaves root fields at maxAge 0.
    expect((await get(server, '{ __typename }')).cacheControl).toBe('no-store');
  });
});

// The TTLs of cached entities and pages come from the same hints: change one, the TTL follows.
describe('TTLs from the schema', () => {
  it('stores Book keys with the maxAge of a changed Book hint', async () => {
    const typeDefs = loadTypeDefs().replace('type Book implements Node @cacheControl(maxAge: 300)', 'type Book implements Node @cacheControl(maxAge: 42)');
    expect(typeDefs).toContain('@cacheControl(maxAge: 42)');
    const server = await startTestServer('sqlite', 'ttl-hint', {}, { typeDefs });
    try {
      await insertFixture(server.app.orm, { authors: 1, booksPerAuthor: 1, reviewsPerBook: 0 });
      const res = await get(server, `{ book(id: "${gid('Book', 1)}") { title } }`);
      expect(res.cacheControl).toBe('max-age=42, public');
      const [bookKey] = await server.keys('*:e:{Book:1}');
      const [authorKey] = await server.keys('*:e:{Author:*');
      expect(authorKey).toBeUndefined(); // not read, not cached
      const ttl = await server.redis.ttl(bookKey!);
      expect(ttl).toBeGreaterThan(35);
      expect(ttl).toBeLessThanOrEqual(42);
    } finally {
      await server.close();
    }
  });
});
