import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createMetrics } from '../../src/server/metrics.ts';
import { requestIdFrom } from '../../src/server/request-scope.ts';
import type { CacheTrace } from '../../src/server/request-trace.ts';
import { testDrivers } from '../support/database.ts';
import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';

/**
 * Round trips a request can be charged with. Background ones belong to no request: the periodic
 * epoch refresh, and on PostgreSQL the change feed's invalidations (NOTIFY of earlier writes).
 */
function requestRoundTrips(server: TestServer): number {
  return server.counters.roundTrips.filter((r) => r.operation !== 'raiseCounter' && r.operation !== 'invalidate').length;
}
import { startTestServer, type TestServer } from '../support/test-server.ts';

// The reference query: 8 levels deep, three entity types, three kinds of connection.
const QUERY = `{ books(first: 20) { edges { node { title author { name books(first: 3) { edges { node { title } } } }
  reviews(first: 5) { totalCount edges { node { rating } } } } } } }`;

/** Sum of the samples of `name` whose labels include `labels` (Prometheus text format). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => got[key] === value)) total += Number(match[3]);
  }
  return total;
}

describe.each(testDrivers())('observability on %s', (driver) => {
  let server: TestServer;
  const lines: Record<string, unknown>[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });

  beforeAll(async () => {
    server = await startTestServer(driver, `obs-${driver}`, {}, { log: pino({ level: 'info' }, logStream) });
    await insertFixture(server.app.orm, { authors: 10, booksPerAuthor: 4, reviewsPerBook: 3 });
  });
  afterAll(() => server.close());

  async function scrape(): Promise<string> {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  }

  async function post(query: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }),
    });
    const body = (await res.json()) as { data?: any; errors?: unknown[]; extensions?: { cache?: CacheTrace } };
    return { status: res.status, headers: res.headers, ...body };
  }

  /** One epoch bump retires the whole cache: the next query runs cold. */
  async function coldCache(): Promise<void> {
    await server.app.cache.epoch.bump();
    server.counters.reset();
  }

  it('counts misses and fills on a cold query, hits on a warm one, and every SQL statement', async () => {
    await coldCache();
    const before = await scrape();
    expect((await post(QUERY)).errors).toBeUndefined();
    const cold = await scrape();
    const delta = (text: string, from: string, name: string, labels?: Record<string, string>) => sample(text, name, labels) - sample(from, name, labels);

    expect(delta(cold, before, 'catalog_cache_misses_total', { type: 'Page' })).toBeGreaterThan(0);
    expect(delta(cold, before, 'catalog_cache_misses_total', { type: 'Author' })).toBe(5);
    expect(delta(cold, before, 'catalog_cache_fills_total')).toBeGreaterThan(0);
    expect(delta(cold, before, 'catalog_cache_hits_total', { type: 'Page' })).toBe(0);
    // The histogram sees exactly the statements the test's own onQuery hook counted.
    expect(server.counters.sql).toHaveLength(4);
    expect(delta(cold, before, 'catalog_sql_statement_duration_seconds_count')).toBe(server.counters.sql.length);
    expect(delta(cold, before, 'catalog_sql_statements_total', { statement: 'select' })).toBe(4);

    server.counters.reset();
    expect((await post(QUERY)).errors).toBeUndefined();
    const warm = await scrape();
    expect(delta(warm, cold, 'catalog_cache_hits_total', { type: 'Page' })).toBe(26); // 1 books + 20 review + 5 author pages
    expect(delta(warm, cold, 'catalog_cache_misses_total')).toBe(0);
    expect(delta(warm, cold, 'catalog_cache_fills_total')).toBe(0);
    expect(delta(warm, cold, 'catalog_sql_statement_duration_seconds_count')).toBe(0);
    expect(delta(warm, cold, 'catalog_redis_roundtrip_seconds_count', { operation: 'getMany' })).toBe(4);
    expect(delta(warm, cold, 'catalog_graphql_request_duration_seconds_count', { operation_name: 'anonymous', operation_type: 'query' })).toBe(1);

    expect(sample(warm, 'process_cpu_user_seconds_total')).toBeGreaterThan(0); // the default process metrics
    expect(sample(warm, 'catalog_cache_usable')).toBe(1);
  });

  it('counts the evictions and generation bumps of a mutation, and the codes of errors', async () => {
    const before = await scrape();
    const res = await post(`mutation { updateBook(id: "${gid('Book', 2)}", input: { title: "Renamed" }) { title } }`);
    expect(res.errors).toBeUndefined();
    await post('{ books(first: 1) { nope } }');
    const after = await scrape();
    // Applied after commit, before the mutation answered (PostgreSQL's change feed may repeat it).
    expect(sample(after, 'catalog_cache_evictions_total', { type: 'Book' }) - sample(before, 'catalog_cache_evictions_total', { type: 'Book' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'catalog_cache_generation_bumps_total', { family: 'books' }) - sample(before, 'catalog_cache_generation_bumps_total', { family: 'books' })).toBeGreaterThanOrEqual(1);
    expect(after).not.toMatch(/family="books\.TITLE"/); // family kinds only: bounded labels
    // A new price only reorders the price lists: range buckets of the old and the new value.
    const reorders = (text: string) => sample(text, 'catalog_cache_range_reorders_total', { family: 'books' });
    const beforePrice = await scrape();
    expect((await post(`mutation { updateBook(id: "${gid('Book', 2)}", input: { priceCents: 4321 }) { id } }`)).errors).toBeUndefined();
    expect(reorders(await scrape()) - reorders(beforePrice)).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'catalog_graphql_errors_total', { code: 'GRAPHQL_VALIDATION_FAILED' }) - sample(before, 'catalog_graphql_errors_total', { code: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
    expect(sample(after, 'catalog_graphql_request_duration_seconds_count', { operation_type: 'mutation' })).toBeGreaterThanOrEqual(1);
  });

  it('traces a cold request with x-cache-trace: 1: the keys it missed and filled, and its SQL', async () => {
    await coldCache();
    const res = await post(QUERY, { 'x-cache-trace': '1' });
    expect(res.errors).toBeUndefined();
    const trace = res.extensions!.cache!;
    expect(trace.sql.count).toBe(server.counters.statements().length);
    expect(trace.sql.count).toBe(4);
    expect(trace.sql.items).toHaveLength(4);
    expect(trace.sql.items.join('\n')).toMatch(/\bfrom [`"]?author[`"]?/i);
    expect(trace.hit.count).toBe(0);
    expect(trace.missed.count).toBeGreaterThan(0);
    expect(trace.missed.items.some((k) => /:p:\{books\.ID:/.test(k))).toBe(true);
    expect(trace.filled.count).toBeGreaterThan(100); // 26 pages and their rows
    expect(trace.filled.items).toHaveLength(100); // lists stop at 100; the count goes on
    expect(trace.redis.roundTrips).toBe(requestRoundTrips(server));
    expect(trace.evictions.entities.count).toBe(0);
  });

  it('traces a warm request: no SQL and 4 Redis round trips, as the counters saw them', async () => {
    await post(QUERY);
    server.counters.reset();
    const res = await post(QUERY, { 'x-cache-trace': '1' });
    const trace = res.extensions!.cache!;
    expect(trace.sql).toEqual({ count: 0, items: [] });
    expect(trace.redis.roundTrips).toBe(4);
    expect(trace.redis.roundTrips).toBe(requestRoundTrips(server));
    expect(trace.redis.byOperation).toEqual({ getMany: 4 });
    expect(trace.missed.count).toBe(0);
    expect(trace.filled.count).toBe(0);
    expect(trace.hit.count).toBeGreaterThan(26);
    expect(trace.hit.items.some((k) => /:e:\{Author:\d+\}$/.test(k))).toBe(true);
  });

  it("traces a mutation's evictions", async () => {
    const res = await post(`mutation { updateBook(id: "${gid('Book', 3)}", input: { priceCents: 4242 }) { priceCents } }`, { 'x-cache-trace': '1' });
    expect(res.errors).toBeUndefined();
    const { evictions, sql } = res.extensions!.cache!;
    expect(evictions.entities.items).toContain('Book:3');
    // A new price reorders the price lists: their range buckets around the old and new value.
    expect(evictions.families.items).not.toContain('books.PRICE');
    expect(evictions.ranges.items).toContain('books.PRICE@4242');
    expect(sql.items.some((s) => /^\s*update\b/i.test(s))).toBe(true);
  });

  it('charges concurrent requests only with their own statements and round trips', async () => {
    await coldCache();
    const traced = { 'x-cache-trace': '1' };
    // The second query reads nothing the first one does (a page in another order; its rows fill
    // book keys that the reference query, holding its books from its own page, never looks up).
    const byPrice = '{ books(first: 3, orderBy: { field: PRICE, direction: ASC }) { edges { node { title } } } }';
    const [reference, other] = await Promise.all([post(QUERY, traced), post(byPrice, traced)]);
    const a = reference.extensions!.cache!;
    const b = other.extensions!.cache!;
    expect(a.sql.count).toBe(4);
    expect(b.sql.count).toBe(1);
    expect(b.sql.items[0]).toMatch(/\bfrom [`"]?book[`"]?/i);
    expect(a.sql.count + b.sql.count).toBe(server.counters.sql.length);
    expect(a.redis.roundTrips + b.redis.roundTrips).toBe(requestRoundTrips(server));
    expect(b.missed.items.every((k) => k.includes(':p:{books.PRICE:'))).toBe(true);
    expect(a.missed.items.some((k) => k.includes('PRICE'))).toBe(false);
  });

  it('adds no extensions.cache without the header', async () => {
    const res = await post(QUERY);
    expect(res.errors).toBeUndefined();
    expect(res.extensions?.cache).toBeUndefined();
  });

  it('echoes a sane x-request-id and logs one line per request under it, without the query', async () => {
    const res = await post('query ObservedTitles { books(first: 2) { edges { node { title } } } }', { 'x-request-id': 'req-42.a_b' });
    expect(res.headers.get('x-request-id')).toBe('req-42.a_b');
    const line = await logLine((l) => l.requestId === 'req-42.a_b');
    expect(line).toMatchObject({ msg: 'request', method: 'POST', path: '/graphql', status: 200, operationName: 'ObservedTitles', level: 30 });
    expect(typeof line.durationMs).toBe('number');
    expect(JSON.stringify(lines)).not.toContain('books(first');

    // An id that is too long or carries other characters is replaced by a generated one.
    const replaced = await post('{ books(first: 1) { totalCount } }', { 'x-request-id': 'x'.repeat(65) });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const generated = await fetch(`${server.url}/graphql?query=${encodeURIComponent('{ authors(first: 1) { totalCount } }')}`, {
      headers: { 'apollo-require-preflight': '1' },
    });
    const id = generated.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const getLine = await logLine((l) => l.requestId === id);
    expect(getLine).toMatchObject({ method: 'GET', path: '/graphql', status: 200 }); // no query string
  });

  async function logLine(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    // The line is written when the response closes, which may be just after the client has read it.
    for (let i = 0; i < 100; i++) {
      const line = lines.find((l) => l.msg === 'request' && match(l));
      if (line) return line;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no matching request log line among ${lines.length}`);
  }
});

describe('metrics and request ids, alone', () => {
  it('keeps the counts of two apps in one process apart (a registry each)', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.lookup('Book', 3, 1);
    expect(sample((await a.expose()).body, 'catalog_cache_hits_total', { type: 'Book' })).toBe(3);
    expect(sample((await b.expose()).body, 'catalog_cache_hits_total', { type: 'Book' })).toBe(0);
  });

  it('bounds the operation-name label', async () => {
    const metrics = createMetrics();
    for (let i = 0; i < 250; i++) metrics.graphqlRequest(`Op${i}`, 'query', 0.001);
    const body = (await metrics.expose()).body;
    expect(sample(body, 'catalog_graphql_request_duration_seconds_count', { operation_name: 'other' })).toBe(50);
  });

  it('keeps only sane request ids', () => {
    expect(requestIdFrom('abc-1.2_3')).toBe('abc-1.2_3');
    for (const bad of ['', 'a b', 'a"b', 'x'.repeat(65), 'a\nb', ['a', 'b'], undefined]) {
      expect(requestIdFrom(bad as string)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    }
  });
});
