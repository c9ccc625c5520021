import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createFillQueue, type FillQueue } from '../../src/cache/fill-queue.ts';
import { createKeyReader } from '../../src/cache/key-reader.ts';
import { createKeyspace } from '../../src/cache/keyspace.ts';
import { createReadThroughLoader } from '../../src/cache/read-through-loader.ts';
import { createRedisStore } from '../../src/cache/redis-store.ts';
import type { StoreOperation } from '../../src/cache/store-observer.ts';
import { TEST_REDIS_URL } from '../support/test-server.ts';

/**
 * The loaders' lookup takes the leases of its misses and creates the generations it has never
 * seen in its own round trip (CacheStore.lookup), atomically with reading each key: a miss knows
 * at once whether it fills, and a cold batch costs one lookup and one fill, no `acquire`.
 */
describe('a lookup that takes leases', () => {
  const prefix = `t.lookup.${randomBytes(4).toString('hex')}`;
  const keyspace = createKeyspace(prefix, () => 1);
  const redis = new Redis(TEST_REDIS_URL);
  const roundTrips: StoreOperation[] = [];
  const store = createRedisStore(redis, { roundTrip: (operation) => roundTrips.push(operation) });
  const key = (name: string) => `${prefix}:${name}`;

  beforeEach(() => { roundTrips.length = 0; });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.unlink(...keys);
    redis.disconnect();
  });

  it('takes the lease of an absent key only, tells a lease held by another, and creates absent counters', async () => {
    await redis.set(key('present'), 'value');
    await redis.set(key('gen.old'), '41');
    const first = await store.lookup([
      { key: key('absent'), lease: { key: key('absent.lease'), token: 'tok-1', ttlMs: 2000 } },
      { key: key('present'), lease: { key: key('present.lease'), token: 'tok-1b', ttlMs: 2000 } },
      { key: key('plain') },
      { key: key('gen.new'), initial: '1000' },
      { key: key('gen.old'), initial: '2000' },
    ]);
    expect(first).toEqual({ values: [null, 'value', null, '1000', '41'], leases: ['acquired', 'skipped', 'skipped', 'skipped', 'skipped'] });
    expect(roundTrips).toEqual(['getMany']);
    expect(await redis.get(key('absent.lease'))).toBe('tok-1');
    const ttl = await redis.pttl(key('absent.lease'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2000);
    expect(await redis.exists(key('present.lease'))).toBe(0); // a value was there: no lease taken
    expect(await redis.mget(key('gen.new'), key('gen.old'))).toEqual(['1000', '41']);

    const second = await store.lookup([{ key: key('absent'), lease: { key: key('absent.lease'), token: 'tok-2', ttlMs: 2000 } }]);
    expect(second).toEqual({ values: [null], leases: ['held'] });
    expect(await redis.get(key('absent.lease'))).toBe('tok-1'); // the first filler keeps it
  });

  it('a cold batch costs one lookup and one fill, and a concurrent batch elsewhere waits for that fill', async () => {
    let fetched = 0;
    let releaseFetch!: () => void;
    const fetchGate = new Promise<void>((resolve) => { releaseFetch = resolve; });
    const loader = () => createReadThroughLoader<number, { id: number }>({
      name: 'Thing', reader: createKeyReader(store), store, clockKey: keyspace.clock, ttlSeconds: 60,
      locate: (id) => ({ cacheKey: keyspace.entity('Thing', id), tombstoneKey: keyspace.tombstone('Thing', id), leaseKey: keyspace.entityLease('Thing', id) }),
      fetch: async (ids) => {
        fetched += ids.length;
        await fetchGate;
        return ids.map((id) => ({ id }));
      },
      protection: { pollMs: 5 },
    });
    const filler = loader().loadMany([1, 2, 3]);
    await new Promise((resolve) => setTimeout(resolve, 20)); // its lookup has taken the three leases
    const waiter = loader().loadMany([1, 2, 3]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    releaseFetch();
    expect(await filler).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(await waiter).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(fetched).toBe(3); // the waiter found the leases held and was served by the fill
    // Filler: lookup, fill. Waiter: lookup (leases held), then its polls for the values.
    expect(roundTrips.filter((op) => op === 'acquire')).toEqual([]);
    expect(roundTrips.filter((op) => op === 'setMany')).toHaveLength(1);
    expect(await redis.exists(...[1, 2, 3].map((id) => keyspace.entityLease('Thing', id)))).toBe(0); // released by the fill
  });

  it('two requests that each hold a lease (fill queued) and wait for the other\'s do not wait out the lease', async () => {
    let fetched = 0;
    const loader = (queue: FillQueue) => createReadThroughLoader<number, { id: number }>({
      name: 'Cycle', reader: createKeyReader(store), store, clockKey: keyspace.clock, ttlSeconds: 60, fills: queue,
      locate: (id) => ({ cacheKey: keyspace.entity('Cycle', id), tombstoneKey: keyspace.tombstone('Cycle', id), leaseKey: keyspace.entityLease('Cycle', id) }),
      fetch: async (ids) => {
        fetched += ids.length;
        return ids.map((id) => ({ id }));
      },
      protection: { pollMs: 5, leaseWaitMs: 1500 },
    });
    const a = createFillQueue(store);
    const b = createFillQueue(store);
    // Each request loads one key (its lease taken, its fill queued, not sent), then wants the other's.
    expect(await loader(a).load(1)).toEqual({ id: 1 });
    expect(await loader(b).load(2)).toEqual({ id: 2 });
    const started = performance.now();
    const [fromA, fromB] = await Promise.all([loader(a).load(2), loader(b).load(1)]);
    expect([fromA, fromB]).toEqual([{ id: 2 }, { id: 1 }]);
    // Each waiter sent its own request's fills before waiting: served by the other's, not timed out.
    expect(performance.now() - started).toBeLessThan(1000);
    expect(fetched).toBe(2);
    await Promise.all([a.flush(), b.flush()]);
  });

  it('a fill dropped because the epoch moved during its read still gives its lease back', async () => {
    let clockKey = keyspace.clock();
    const loader = createReadThroughLoader<number, { id: number }>({
      name: 'Moved', reader: createKeyReader(store), store, clockKey: () => clockKey, ttlSeconds: 60,
      locate: (id) => ({ cacheKey: keyspace.entity('Moved', id), tombstoneKey: keyspace.tombstone('Moved', id), leaseKey: keyspace.entityLease('Moved', id) }),
      fetch: async (ids) => ids.map((id) => ({ id })),
      beforeFill: async () => { clockKey = `${prefix}:2:clock`; }, // an epoch bump between the read and the fill
    });
    expect(await loader.load(7)).toEqual({ id: 7 });
    expect(await redis.exists(keyspace.entity('Moved', 7))).toBe(0); // not written: read in a retired epoch
    expect(await redis.exists(keyspace.entityLease('Moved', 7))).toBe(0); // but its lease is given back
  });
});
