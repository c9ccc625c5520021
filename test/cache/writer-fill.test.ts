import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { InvalidationRequest } from '../../src/cache/cache-store.ts';
import { createKeyspace } from '../../src/cache/keyspace.ts';
import { createRedisStore } from '../../src/cache/redis-store.ts';
import { TEST_REDIS_URL, unlinkTestKeys } from '../support/test-server.ts';

// A writer's own new row, written by its invalidation (EntityEviction.fill): only when no other
// invalidation of that entity came after the clock the writer read before its COMMIT.
describe('a writer fills what it committed, in its own invalidation', () => {
  const prefix = `t.wfill.${randomBytes(4).toString('hex')}`;
  const keyspace = createKeyspace(prefix, () => 1);
  const redis = new Redis(TEST_REDIS_URL);
  const store = createRedisStore(redis);
  afterAll(async () => {
    redis.disconnect();
    await unlinkTestKeys(`${prefix}:`);
  });

  const entity = (id: number, fill?: { value: string; guardClock: number; ttlSeconds?: number }) => ({
    key: keyspace.entity('Book', id), tombstoneKey: keyspace.tombstone('Book', id), leaseKey: keyspace.entityLease('Book', id),
    ...(fill ? { fill: { value: fill.value, ttlSeconds: fill.ttlSeconds ?? 300, guardClock: fill.guardClock } } : {}),
  });
  const request = (entities: InvalidationRequest['entities']): InvalidationRequest => ({
    entities, generationKeys: [], clockKey: keyspace.clock(), tombstoneTtlMs: 60_000,
  });
  const clock = async () => Number((await redis.get(keyspace.clock())) ?? 0);

  it('sets the value after deleting it, and still raises the tombstone, when nothing invalidated it since the guard clock', async () => {
    await store.invalidate(request([entity(1)])); // an earlier write: tombstone at the clock then
    const guard = await clock(); // read before the writer's COMMIT
    await redis.set(keyspace.entity('Book', 1), 'stale', 'EX', 300);
    await store.invalidate(request([entity(1, { value: 'v2', guardClock: guard })]));
    expect(await redis.get(keyspace.entity('Book', 1))).toBe('v2');
    expect(Number(await redis.get(keyspace.tombstone('Book', 1)))).toBe(await clock());
    expect(await clock()).toBe(guard + 1);
    expect(await redis.ttl(keyspace.entity('Book', 1))).toBeGreaterThan(290);
  });

  it('writes nothing when another invalidation of the entity came after the guard clock (a later commit)', async () => {
    const guard = await clock();
    await store.invalidate(request([entity(2)])); // a write committed after ours, invalidated first
    await store.invalidate(request([entity(2, { value: 'older', guardClock: guard })]));
    expect(await redis.get(keyspace.entity('Book', 2))).toBeNull();
  });

  it('fills an entity never invalidated (no tombstone), and only the entities that carry a fill', async () => {
    const guard = await clock();
    await redis.set(keyspace.entity('Book', 4), 'cached', 'EX', 300);
    await store.invalidate(request([entity(3, { value: 'v3', guardClock: guard }), entity(4)]));
    expect(await redis.mget(keyspace.entity('Book', 3), keyspace.entity('Book', 4))).toEqual(['v3', null]);
  });

  it('skips a fill whose time to live is under a second (EX takes whole seconds), and still invalidates', async () => {
    const guard = await clock();
    await redis.set(keyspace.entity('Book', 5), 'cached', 'EX', 300);
    await store.invalidate(request([entity(5, { value: 'v5', guardClock: guard, ttlSeconds: 0.5 })]));
    expect(await redis.get(keyspace.entity('Book', 5))).toBeNull();
    expect(Number(await redis.get(keyspace.tombstone('Book', 5)))).toBe(await clock());
  });

  // A writer's new value of a page of a list it changed (InvalidationRequest.pageFills): written
  // after the generation's INCR, only if the generation was still the one the page was read under.
  const pageFill = (family: string, expectedGeneration: string, value: string, ttlSeconds = 60) => ({
    key: keyspace.page(family, 'DESC.5.-'), generationKey: keyspace.generation(family), expectedGeneration, value, ttlSeconds,
  });

  it('writes a page after bumping its family, when the generation was the one expected', async () => {
    await redis.set(keyspace.generation('book.1.reviews'), '41');
    await redis.set(keyspace.page('book.1.reviews', 'DESC.5.-'), 'old page', 'EX', 60);
    await store.invalidate({ ...request([]), generationKeys: [keyspace.generation('book.1.reviews')], pageFills: [pageFill('book.1.reviews', '41', 'new page')] });
    expect(await redis.mget(keyspace.generation('book.1.reviews'), keyspace.page('book.1.reviews', 'DESC.5.-'))).toEqual(['42', 'new page']);
    expect(await redis.ttl(keyspace.page('book.1.reviews', 'DESC.5.-'))).toBeGreaterThan(50);
  });

  it('writes no page when the generation moved since the writer read it, or when the family is not bumped', async () => {
    await redis.set(keyspace.generation('book.2.reviews'), '8'); // another change of the list came in between
    await store.invalidate({ ...request([]), generationKeys: [keyspace.generation('book.2.reviews')], pageFills: [pageFill('book.2.reviews', '7', 'lost')] });
    expect(await redis.mget(keyspace.generation('book.2.reviews'), keyspace.page('book.2.reviews', 'DESC.5.-'))).toEqual(['9', null]);
    await redis.set(keyspace.generation('book.3.reviews'), '3');
    await store.invalidate({ ...request([entity(9)]), pageFills: [pageFill('book.3.reviews', '3', 'unguarded')] });
    expect(await redis.get(keyspace.page('book.3.reviews', 'DESC.5.-'))).toBeNull();
  });
});
