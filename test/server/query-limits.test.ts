import { insertFixture } from '../support/fixtures.ts';
import { added } from '../support/cache-snapshot.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const REFERENCE = `{ books(first: 20) { edges { node { title author { name books(first: 3) { edges { node { title } } } }
  reviews(first: 5) { totalCount edges { node { rating } } } } } } }`;

async function post(server: TestServer, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}/graphql`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } };
}

// Limits against hostile queries. Every refusal happens before any resolver: no SQL, no cache.
describe('query limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', 'limits');
    await insertFixture(server.app.orm, { authors: 2, booksPerAuthor: 2, reviewsPerBook: 1 });
  });
  afterAll(() => server.close());
  beforeEach(() => server.counters.reset());

  async function refused(body: unknown, code: string, message: RegExp, status = 400) {
    const keys = await server.keys();
    const res = await post(server, body);
    expect(res.status).toBe(status);
    expect(res.body.errors?.map((e) => e.extensions?.code)).toEqual([code]);
    expect(res.body.errors![0]!.message).toMatch(message);
    expect(server.counters.statements()).toEqual([]);
    expect(added(keys, await server.keys())).toEqual([]);
  }

  it('lets the reference query through (8 levels deep, cost within bounds)', async () => {
    const res = await post(server, { query: REFERENCE });
    expect(res.body.errors).toBeUndefined();
  });

  it('refuses a query nested deeper than the depth limit', async () => {
    const nest = (depth: number): string => (depth === 0 ? 'title' : `author { books { edges { node { ${nest(depth - 1)} } } } }`);
    const deep = `{ books { edges { node { ${nest(4)} } } } }`; // 19 levels
    await refused({ query: deep }, 'GRAPHQL_VALIDATION_FAILED', /depth/i);
  });

  it('refuses a query whose lists would resolve too many values, counting each list at its first', async () => {
    const wide = `{ books(first: 100) { edges { node { reviews(first: 100) { edges { node { book { author { books(first: 100) { totalCount } } } } } } } } } }`;
    const res = await post(server, { query: wide });
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', maxCost: 25_000 });
    expect(server.counters.statements()).toEqual([]);
    // The same shape with small pages is fine: cost follows the page sizes, not the shape.
    const narrow = wide.replaceAll('first: 100', 'first: 2');
    expect((await post(server, { query: narrow })).body.errors).toBeUndefined();
  });

  it('remembers estimates per document, yet judges each request by its own page sizes and directives', async () => {
    // `first` and `@include(if:)` change the cost; `$id` does not. The estimate is remembered per
    // document: each request below must still be judged by its own page sizes and directives.
    const query = `query Walk($first: Int, $more: Boolean!, $id: ID!) {
      books(first: $first) { edges { node { title reviews(first: $first) @include(if: $more) { edges { node { rating book { author { books(first: $first) { totalCount } } } } } } } } }
      one: book(id: $id) { title }
    }`;
    const answer = (variables: Record<string, unknown>) => post(server, { query, variables });
    expect((await answer({ first: 2, more: true, id: 'x' })).body.errors).toBeUndefined();
    expect((await answer({ first: 2, more: true, id: 'y' })).body.errors).toBeUndefined();
    server.counters.reset();
    const wide = await answer({ first: 100, more: true, id: 'x' });
    expect(wide.body.errors?.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
    expect(server.counters.statements()).toEqual([]);
    // The same page size is cheap once the nested lists are skipped.
    expect((await answer({ first: 100, more: false, id: 'x' })).body.errors).toBeUndefined();
    server.counters.reset();
    const bad = await answer({ first: 101, more: false, id: 'x' });
    expect(bad.body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    expect(server.counters.statements()).toEqual([]);
    // Absent (its default: 10 per list) is not the same as a value given.
    expect((await answer({ more: true, id: 'x' })).body.errors).toBeUndefined();
  });

  it('refuses too many aliases', async () => {
    const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: books { totalCount }`).join(' ');
    await refused({ query: `{ ${aliases} }` }, 'GRAPHQL_VALIDATION_FAILED', /alias/i);
  });

  it('refuses a document with too many tokens at parse time', async () => {
    const long = `{ ${Array.from({ length: 2500 }, () => '__typename').join(' ')} }`;
    await refused({ query: long }, 'GRAPHQL_PARSE_FAILED', /tokens/i);
  });

  it('refuses batched operations', async () => {
    const res = await post(server, [{ query: '{ books { totalCount } }' }, { query: '{ authors { totalCount } }' }]);
    expect(res.status).toBe(400);
    expect(server.counters.statements()).toEqual([]);
  });

  it('refuses a body over the size limit with 413, without reading it all', async () => {
    const res = await post(server, { query: `{ books { totalCount } }`, padding: 'x'.repeat(1_100_000) });
    expect(res.status).toBe(413);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('hides field suggestions outside development', async () => {
    const res = await post(server, { query: '{ book { titl } }' });
    expect(JSON.stringify(res.body)).not.toMatch(/Did you mean/);
  });

  it('answers introspection unless it is switched off', async () => {
    expect((await post(server, { query: '{ __schema { queryType { name } } }' })).body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    const closed = await startTestServer('sqlite', 'limits-nointro', { introspection: false });
    try {
      const res = await post(closed, { query: '{ __schema { queryType { name } } }' });
      expect(res.status).toBe(400);
      expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    } finally {
      await closed.close();
    }
  });
});
