import type { FillProtection } from '../../src/cache/read-through-loader.ts';
import { FillBarrier } from '../support/fill-barrier.ts';
import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

// The classic race, forced deterministically: a reader misses and reads the old row; a writer
// commits and invalidates; only then does the reader fill. The fill must not win.
describe.each<[string, FillProtection]>([
  ['with versioned fills', {}],
  ['without them (the race reproduced)', { versionedFills: false }],
])('a stale fill %s', (label, protection) => {
  const barrier = new FillBarrier();
  let server: TestServer;
  const protectedRun = protection.versionedFills !== false;

  beforeEach(async () => {
    server = await startTestServer('sqlite', `stale-${protectedRun ? 'on' : 'off'}`, {}, { protection, beforeFill: barrier.hook });
    await insertFixture(server.app.orm, { authors: 1, booksPerAuthor: 3, reviewsPerBook: 0 });
  });
  afterEach(() => server.close());

  async function race(name: string, read: string, write: string) {
    barrier.arm(name);
    const reader = server.gql(read); // misses, reads the old row, then waits at the barrier
    await barrier.reached;
    const written = await server.gql(write); // commits and invalidates while the reader holds old data
    expect(written.errors).toBeUndefined();
    barrier.release();
    return reader;
  }

  it(`${protectedRun ? 'is refused' : 'wins'} for an entity loaded by id`, async () => {
    const book = gid('Book', 1);
    const early = await race('Book', `{ book(id: "${book}") { title } }`,
      `mutation { updateBook(id: "${book}", input: { title: "After the write" }) { title } }`);
    expect((await early).data.book.title).toBe('Book 1.1'); // it started before the write: fine

    const next = await server.gql(`{ book(id: "${book}") { title } }`);
    expect(next.data.book.title).toBe(protectedRun ? 'After the write' : 'Book 1.1');
  });

  it(`${protectedRun ? 'is refused' : 'wins'} for entities filled from a page's rows`, async () => {
    const early = await race('Page', '{ books(first: 3) { edges { node { title } } } }',
      `mutation { updateBook(id: "${gid('Book', 2)}", input: { isbn: "changed-isbn" }) { isbn } }`);
    expect((await early).errors).toBeUndefined();

    const next = await server.gql(`{ book(id: "${gid('Book', 2)}") { isbn } }`);
    expect(next.data.book.isbn).toBe(protectedRun ? 'changed-isbn' : 'isbn-1-2');
  });
});

// A refused fill still ends its lease: the filler is done, and a lease left to expire would keep
// every waiter for that key polling until its TTL (seconds of latency on a hot key under writes).
describe('a fill refused by a newer tombstone', () => {
  let server: TestServer;
  beforeEach(async () => { server = await startTestServer('sqlite', 'refused-fill'); });
  afterEach(() => server.close());

  it('writes nothing and releases the lease it was made under', async () => {
    const { store, keyspace } = server.app.cache;
    const [key, tombstoneKey, leaseKey] = [keyspace.entity('Book', 1), keyspace.tombstone('Book', 1), keyspace.entityLease('Book', 1)];
    await server.redis.set(tombstoneKey, '10');
    await server.redis.set(leaseKey, 'mine', 'PX', 60_000); // taken after the invalidation that wrote the tombstone
    await store.setMany([{ key, value: '{"v":1}', ttlSeconds: 60, guard: { tombstoneKey, readClock: 5 }, lease: { key: leaseKey, token: 'mine' } }]);
    expect(await server.redis.get(key)).toBeNull();
    expect(await server.redis.get(leaseKey)).toBeNull();

    // Another filler's lease is left alone.
    await server.redis.set(leaseKey, 'theirs', 'PX', 60_000);
    await store.setMany([{ key, value: '{"v":1}', ttlSeconds: 60, guard: { tombstoneKey, readClock: 5 }, lease: { key: leaseKey, token: 'mine' } }]);
    expect(await server.redis.get(leaseKey)).toBe('theirs');
  });
});
