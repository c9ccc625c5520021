import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Evictions } from '../../src/cache/evictions.ts';
import { createInvalidator } from '../../src/cache/invalidator.ts';
import { createKeyReader } from '../../src/cache/key-reader.ts';
import { createKeyspace } from '../../src/cache/keyspace.ts';
import { createReadThroughLoader } from '../../src/cache/read-through-loader.ts';
import { createRedisStore } from '../../src/cache/redis-store.ts';
import { TEST_REDIS_URL } from '../support/test-server.ts';

// Two invalidations of one entity overlap and land out of order (a slow invalidator's pipeline
// after a fast one's): the tombstone must keep the newer clock, or a reader that read the row
// before the newer write could fill it back. Found by the consistency stress test.
it('a late invalidation never lowers a tombstone, so an older read still cannot fill', async () => {
  const prefix = `t.tomb.${randomBytes(4).toString('hex')}`;
  const keyspace = createKeyspace(prefix, () => 1);
  const fast = new Redis(TEST_REDIS_URL);
  const slowRaw = new Redis(TEST_REDIS_URL);
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  // A client whose pipelines wait for the gate: an invalidator stalled between its INCR and its pipeline.
  const slow = new Proxy(slowRaw, {
    get(target, prop) {
      if (prop === 'pipeline') {
        return () => {
          const p = target.pipeline();
          const exec = p.exec.bind(p);
          (p as unknown as { exec: () => ReturnType<typeof exec> }).exec = async () => { await gate; return exec(); };
          return p;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Redis;
  const fastStore = createRedisStore(fast);
  const evict = () => new Evictions().entity('Book', 100);
  let db = 78; // the row's version in the database
  let pauseFill: Promise<void> | null = null;
  let reachedFill!: () => void;
  const fillReached = new Promise<void>((r) => { reachedFill = r; });
  const loader = () => createReadThroughLoader<number, { v: number }>({
    name: 'Book', reader: createKeyReader(fastStore), store: fastStore, clockKey: keyspace.clock, ttlSeconds: 300,
    locate: (id) => ({ cacheKey: keyspace.entity('Book', id), tombstoneKey: keyspace.tombstone('Book', id), leaseKey: keyspace.entityLease('Book', id) }),
    fetch: async (ids) => ids.map(() => ({ v: db })),
    beforeFill: async () => {
      if (!pauseFill) return;
      const paused = pauseFill;
      pauseFill = null;
      reachedFill(); // it has read the database and waits to fill
      await paused;
    },
  });
  try {
    // 1. v78's invalidation by a slow invalidator: its INCR is done, its pipeline stalls.
    const late = createInvalidator(createRedisStore(slow), keyspace).apply(evict());
    while ((await fast.get(keyspace.clock())) === null) await new Promise((r) => setTimeout(r, 1));
    // 2. A reader misses, reads v78, and is slow to fill.
    let fillGo!: () => void;
    pauseFill = new Promise<void>((r) => { fillGo = r; });
    const reader = loader().load(100);
    await fillReached;
    // 3. v79 commits; its invalidation is fast.
    db = 79;
    await createInvalidator(fastStore, keyspace).apply(evict());
    // 4. The late invalidation of v78 lands, then the reader's fill.
    release();
    await late;
    // The newer clock (the fast one's, taken second) stays.
    expect(await fast.get(keyspace.tombstone('Book', 100))).toBe(await fast.get(keyspace.clock()));
    fillGo();
    expect(await reader).toEqual({ v: 78 }); // it started before v79: fine to answer
    expect(await fast.get(keyspace.entity('Book', 100))).toBeNull(); // but its fill was refused
    expect(await loader().load(100)).toEqual({ v: 79 });
  } finally {
    const keys = await fast.keys(`${prefix}:*`);
    if (keys.length) await fast.del(...keys);
    fast.disconnect();
    slowRaw.disconnect();
  }
});
