import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { openCacheRuntime, type CacheRuntime } from '../../src/cache/cache-runtime.ts';
import type { CacheStore } from '../../src/cache/cache-store.ts';
import { Evictions } from '../../src/cache/evictions.ts';
import { invalidatedChannel } from '../../src/cache/keyspace.ts';
import { createLocalTier, type LocalTierOptions } from '../../src/cache/local-tier.ts';
import { createRedisStore } from '../../src/cache/redis-store.ts';
import type { StoreOperation } from '../../src/cache/store-observer.ts';
import { watchInvalidations } from '../../src/cache/watch-invalidations.ts';
import { ownRedis, type OwnRedis } from '../support/own-redis.ts';
import { TEST_REDIS_URL } from '../support/test-server.ts';

/** A runtime with the tier on, counting its Redis round trips. */
async function tiered(prefix: string, redisUrl = TEST_REDIS_URL, ttlMs = 60_000) {
  const roundTrips: StoreOperation[] = [];
  const cache = await openCacheRuntime({
    enabled: true, redisUrl, prefix, epochRefreshMs: 600_000,
    store: { roundTrip: (operation) => { if (operation !== 'raiseCounter') roundTrips.push(operation); } },
    localTier: { max: 100, ttlMs },
  });
  return { cache, roundTrips, tier: cache.localTier! };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await sleep(1);
  }
}

/** Waits for `condition`, checking on every turn of the event loop: measures sub-millisecond delays. */
async function delayUntil(condition: () => boolean, timeoutMs = 5000): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
  return performance.now() - started;
}

const bookEvicted = () => new Evictions().entity('Book', 1).family('books.TITLE');

describe('in-process tier on the shared Redis', () => {
  let prefix: string;
  let redis: Redis;
  let reader: Awaited<ReturnType<typeof tiered>>;
  let writer: CacheRuntime; // another process's runtime: its own connections, the same prefix
  let keys: { clock: string; book: string; generation: string; page: string };

  beforeEach(async () => {
    prefix = `t.tier.${randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    reader = await tiered(prefix);
    writer = await openCacheRuntime({ enabled: true, redisUrl: TEST_REDIS_URL, prefix, epochRefreshMs: 600_000 });
    const ks = reader.cache.keyspace;
    keys = { clock: ks.clock(), book: ks.entity('Book', 1), generation: ks.generation('books.TITLE'), page: ks.page('books.TITLE', 'first=2') };
    await redis.mset(keys.book, '{"v":"old"}', keys.generation, '7', keys.page, '{"v":[1],"g":"7"}');
    reader.roundTrips.length = 0;
  });
  afterEach(async () => {
    await reader.cache.close();
    await writer.close();
    const left = await redis.keys(`${prefix}:*`);
    if (left.length > 0) await redis.del(...left);
    redis.disconnect();
  });

  const read = () => reader.cache.store.getMany([keys.clock, keys.generation, keys.book, keys.page]);

  /**
   * A tier of its own over a plain Redis store (`wrap` may slow or count it), kept by its own
   * subscription, opened on a duplicate of `subscriberBase`; `close` stops both.
   */
  async function ownTier(options: { wrap?: (raw: CacheStore) => CacheStore; subscriberBase?: Redis; tier?: Partial<LocalTierOptions> } = {}) {
    const connection = new Redis(TEST_REDIS_URL);
    const base = options.subscriberBase ?? new Redis(TEST_REDIS_URL);
    const raw = createRedisStore(connection);
    const tier = createLocalTier(options.wrap?.(raw) ?? raw, { prefix, max: 100, ttlMs: 60_000, epoch: reader.cache.epoch.current, ...options.tier });
    const watcher = await watchInvalidations(base, invalidatedChannel(prefix), tier);
    return {
      tier,
      async close() {
        await watcher.stop();
        base.disconnect();
        connection.disconnect();
      },
    };
  }

  it('answers a repeated read without reading Redis, but never leases', async () => {
    expect(reader.tier.active()).toBe(true);
    const first = await read();
    expect(reader.roundTrips).toEqual(['getMany']);
    expect(await read()).toEqual(first);
    expect(await read()).toEqual([null, '7', '{"v":"old"}', '{"v":[1],"g":"7"}']);
    expect(reader.roundTrips).toEqual(['getMany']); // still one: two reads served in process
    expect(reader.tier.stats).toMatchObject({ served: 2, forwarded: 1 });
    expect(reader.tier.size()).toBe(4); // the absent clock is held too (it reads as 0)

    const lease = reader.cache.keyspace.entityLease('Book', 1);
    await redis.set(lease, 'token');
    for (let i = 0; i < 2; i++) expect(await reader.cache.store.getMany([keys.clock, keys.book, lease])).toEqual([null, '{"v":"old"}', 'token']);
    expect(reader.roundTrips).toEqual(['getMany', 'getMany', 'getMany']);
    expect(reader.tier.size()).toBe(4);
  });

  it('holds tombstones read with the clock, absent ones too, until a message names them', async () => {
    const tombstone = reader.cache.keyspace.tombstone('Book', 1);
    const other = reader.cache.keyspace.tombstone('Book', 2);
    await redis.set(tombstone, '3');
    const batch = () => reader.cache.store.getMany([keys.clock, keys.book, tombstone, other]);
    for (let i = 0; i < 3; i++) expect(await batch()).toEqual([null, '{"v":"old"}', '3', null]);
    expect(reader.roundTrips).toEqual(['getMany']); // the repeats: from memory, the absent tombstone included
    // Another process invalidates Book 2 (absent tombstone raised): its message names the tombstone.
    await writer.invalidator.apply(new Evictions().entity('Book', 2));
    await until(() => reader.tier.stats.evicted > 0);
    const [clock, book, raised, now] = await batch();
    expect([book, raised]).toEqual(['{"v":"old"}', '3']);
    expect(Number(now)).toBeGreaterThan(0); // read again from Redis: the new tombstone
    expect(Number(clock)).toBeGreaterThanOrEqual(Number(now));
    expect(reader.roundTrips).toEqual(['getMany', 'getMany']);
  });

  it("drops what another process's invalidation names, as soon as its message arrives", async () => {
    await read();
    const evictedBefore = reader.tier.stats.evicted;
    await writer.invalidator.apply(bookEvicted());
    // The message left in the invalidation's pipeline, before apply() resolved.
    const delayMs = await delayUntil(() => reader.tier.stats.evicted > evictedBefore);
    console.log(`pub/sub eviction ${delayMs.toFixed(2)} ms after the invalidation resolved`);
    // ~1 ms on an idle machine; the margin is for a loaded CI host. The TTL (60 s here) plays no part.
    expect(delayMs).toBeLessThan(1000);
    expect(reader.tier.stats.evicted - evictedBefore).toBe(2); // Book:1 and the generation

    await redis.set(keys.book, '{"v":"new"}'); // a later fill
    reader.roundTrips.length = 0;
    const [clock, generation, book, page] = await read();
    expect(reader.roundTrips).toEqual(['getMany']);
    expect(book).toBe('{"v":"new"}');
    expect(generation).toBe('8');
    expect(page).toBe('{"v":[1],"g":"7"}'); // re-read with its generation: no longer servable
    // The clock was not named (an older one is safe) but came along with the forwarded read.
    expect(clock).not.toBeNull();
    expect(clock).toBe(await redis.get(keys.clock));
    expect(await read()).toEqual([clock, generation, book, page]);
    expect(reader.roundTrips).toEqual(['getMany']);
  });

  it('drops its own invalidations at once, without waiting for the message', async () => {
    await read();
    await reader.cache.invalidator.apply(bookEvicted());
    expect(reader.tier.size()).toBe(2); // the clock and the page remain; the page's generation is gone
    reader.roundTrips.length = 0;
    expect((await read())[2]).toBeNull();
    expect(reader.roundTrips).toEqual(['getMany']);
  });

  it('never keeps an answer that raced an invalidation message', async () => {
    // The reader's MGET runs in Redis before the invalidation, but its answer is processed after
    // the invalidation's message: the copy that message would have dropped must not be kept.
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    let mgets = 0;
    const slow = (raw: CacheStore): CacheStore => ({ ...raw, getMany: async (k) => { const values = await raw.getMany(k); mgets++; await held; return values; } });
    const { tier, close } = await ownTier({ wrap: slow });
    try {
      expect(tier.active()).toBe(true);
      const racing = tier.getMany([keys.clock, keys.book]);
      await until(() => mgets === 1); // Redis has answered 'old'
      await writer.invalidator.apply(bookEvicted());
      await sleep(20); // the message has arrived (it names nothing held yet, so it evicts nothing)
      release();
      expect((await racing)[1]).toBe('{"v":"old"}'); // this request sees what it read…
      expect(tier.size()).toBe(0); // …but it is not kept
      expect(tier.stats.discarded).toBe(1);
      await redis.set(keys.book, '{"v":"new"}');
      expect((await tier.getMany([keys.clock, keys.book]))[1]).toBe('{"v":"new"}');
      expect(mgets).toBe(2);
      expect((await tier.getMany([keys.clock, keys.book]))[1]).toBe('{"v":"new"}');
      expect(mgets).toBe(2); // the fresh answer was kept
    } finally {
      await close();
    }
  });

  it('never answers from memory before the messages published ahead of the read are applied, however late they arrive', async () => {
    // Redis does not order its writes to two connections: the writer's reply (and so a request
    // that follows it) can arrive before the message, which here waits unread in the subscriber's
    // socket. The CI stress run caught this once: a read 0.01 ms after an ORM write's ack, served
    // from an in-process copy whose message had not been read yet.
    let gets = 0;
    const counted = (raw: CacheStore): CacheStore => ({ ...raw, getMany: (k) => { gets++; return raw.getMany(k); } });
    const syncs: string[] = [];
    // The subscriber is a duplicate of this connection (subscriberFor): capture it to hold its socket.
    const base = new Redis(TEST_REDIS_URL, { commandTimeout: 300 });
    let subscriber: Redis | undefined;
    base.duplicate = (options) => (subscriber = Redis.prototype.duplicate.call(base, options));
    const { tier, close } = await ownTier({
      wrap: counted, subscriberBase: base, tier: { observer: { synced: (_ms, error) => syncs.push(error === undefined ? 'ok' : 'failed') } },
    });
    const get = async () => (await tier.getMany([keys.clock, keys.book]))[1];
    try {
      expect(await get()).toBe('{"v":"old"}');
      expect(await get()).toBe('{"v":"old"}');
      expect(gets).toBe(1); // held

      // The message arrives 50 ms late: the read waits for it (the barrier's PING comes back after it).
      subscriber!.stream.pause();
      await writer.invalidator.apply(bookEvicted());
      await redis.set(keys.book, '{"v":"new"}');
      setTimeout(() => subscriber!.stream.resume(), 50);
      const startedAt = performance.now();
      expect(await get()).toBe('{"v":"new"}');
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(45);
      expect(gets).toBe(2); // the message dropped the copy: read from Redis
      expect(await get()).toBe('{"v":"new"}');
      expect(gets).toBe(2); // and held again

      // The message never comes (the socket stays unread): the sync times out and every read goes to Redis.
      subscriber!.stream.pause();
      await writer.invalidator.apply(bookEvicted());
      await redis.set(keys.book, '{"v":"newer"}');
      expect(await get()).toBe('{"v":"newer"}');
      expect(gets).toBe(3);
      expect(tier.stats.served).toBe(2);
      expect(syncs).toEqual(['ok', 'ok', 'ok', 'failed']); // one PING per read answered from memory here (none shared)
      subscriber!.stream.resume();
    } finally {
      await close();
    }
  });

  it('waits for one barrier per request, at its first read from memory', async () => {
    let session: { tierBarrier?: Promise<boolean> } | undefined;
    let syncs = 0;
    const { tier, close } = await ownTier({ tier: { session: () => session, observer: { synced: () => { syncs++; } } } });
    const get = async (key: string) => (await tier.getMany([keys.clock, key]))[1];
    try {
      await get(keys.book);
      await get(keys.page); // both held now
      expect(syncs).toBe(0);
      session = {}; // a request: its reads share one barrier, whatever the turn
      expect(await get(keys.book)).toBe('{"v":"old"}');
      await sleep(5);
      expect(await get(keys.page)).toBe('{"v":[1],"g":"7"}');
      expect(syncs).toBe(1);
      // A write acknowledged after the barrier: its message drops the copy, and the request's next
      // read goes to Redis (what it reads then is as fresh as the message made the tier).
      await writer.invalidator.apply(bookEvicted());
      await redis.set(keys.book, '{"v":"new"}');
      await until(() => tier.stats.evicted > 0);
      expect(await get(keys.book)).toBe('{"v":"new"}');
      expect(syncs).toBe(1);
      session = {}; // the next request waits for its own
      expect(await get(keys.book)).toBe('{"v":"new"}');
      expect(syncs).toBe(2);
      session = undefined; // outside a request: one per call (per turn)
      await get(keys.book);
      await get(keys.book);
      expect(syncs).toBe(4);
      expect(tier.stats.served).toBe(5);
    } finally {
      await close();
    }
  });

  it('drops a held copy that its reader refilled (a page of an older generation)', async () => {
    await writer.invalidator.apply(bookEvicted()); // generation 7 → 8: the page (g 7) is unservable
    await sleep(50); // its message, arriving during the next read, would (rightly) keep it from being held
    await redis.set(keys.book, '{"v":"new"}'); // refilled
    reader.roundTrips.length = 0;
    const [, generation, , page] = await read();
    expect([generation, page]).toEqual(['8', '{"v":[1],"g":"7"}']);
    expect(reader.tier.size()).toBe(4); // held as Redis answered
    await reader.cache.store.setMany([{ key: keys.page, value: '{"v":[1],"g":"8"}', ttlSeconds: 60 }]);
    expect(reader.tier.size()).toBe(3);
    expect((await read())[3]).toBe('{"v":[1],"g":"8"}');
    expect(await read()).toEqual([await redis.get(keys.clock), '8', '{"v":"new"}', '{"v":[1],"g":"8"}']);
    expect(reader.roundTrips).toEqual(['getMany', 'setMany', 'getMany']);
  });

  it('answers, from memory, the oldest clock its values were read with (what a batch builds from them is versioned by it)', async () => {
    const store = reader.cache.store;
    const [clockBefore] = await store.getMany([keys.clock, keys.book]);
    // An invalidation of another entity moves the clock; a later forwarded read brings the new clock.
    await writer.invalidator.apply(new Evictions().entity('Book', 2));
    await sleep(20);
    const [clockAfter] = await store.getMany([keys.clock, keys.page]);
    expect(Number(clockAfter)).toBeGreaterThan(Number(clockBefore ?? 0));
    reader.roundTrips.length = 0;
    // Book 1 was read with the older clock: a lookup served from memory answers that one.
    expect(await store.getMany([keys.clock, keys.book])).toEqual([clockBefore, '{"v":"old"}']);
    expect(await store.getMany([keys.clock, keys.page])).toEqual([clockAfter, expect.any(String)]);
    expect(await store.getMany([keys.clock, keys.book, keys.page])).toEqual([clockBefore, '{"v":"old"}', expect.any(String)]);
    expect(reader.roundTrips).toEqual([]);
  });

  it('is emptied when the epoch moves', async () => {
    await read();
    expect(reader.tier.size()).toBe(4);
    reader.cache.epoch.adopt(reader.cache.epoch.current() + 1);
    reader.roundTrips.length = 0;
    await reader.cache.store.getMany([reader.cache.keyspace.entity('Book', 1)]);
    expect(reader.roundTrips).toEqual(['getMany']);
    expect(reader.tier.stats.cleared).toBe(1);
    expect(reader.tier.size()).toBe(0); // the new epoch's key is absent: nothing to hold
  });
});

describe('in-process tier TTL backstop', () => {
  it('serves a value no longer than LOCAL_CACHE_TTL_MS when no message comes', async () => {
    const prefix = `t.tierttl.${randomBytes(4).toString('hex')}`;
    const redis = new Redis(TEST_REDIS_URL);
    const { cache, roundTrips, tier } = await tiered(prefix, TEST_REDIS_URL, 300);
    const key = cache.keyspace.entity('Book', 1);
    // As the loaders ask: with the clock, which versions what the tier keeps.
    const get = async () => (await cache.store.getMany([cache.keyspace.clock(), key]))[1]!;
    try {
      await redis.set(key, '{"v":"old"}');
      const readAt = performance.now();
      expect(await get()).toBe('{"v":"old"}');
      const roundTripMs = performance.now() - readAt; // the entry's age counts from within it
      await redis.set(key, '{"v":"new"}'); // a change no invalidation announced (a lost message)
      const seen: { at: number; value: string | null }[] = [];
      while (performance.now() - readAt < 600) {
        seen.push({ at: performance.now() - readAt, value: await get() });
        await sleep(10);
      }
      const lastOld = Math.max(...seen.filter((s) => s.value === '{"v":"old"}').map((s) => s.at));
      const firstNew = Math.min(...seen.filter((s) => s.value === '{"v":"new"}').map((s) => s.at));
      expect(lastOld).toBeGreaterThan(200); // it was served from the tier…
      expect(lastOld).toBeLessThan(300 + roundTripMs); // …never past its TTL
      expect(firstNew).toBeLessThan(300 + roundTripMs + 30);
      expect(seen.slice(seen.findIndex((s) => s.value === '{"v":"new"}')).every((s) => s.value === '{"v":"new"}')).toBe(true);
      expect(tier.stats.forwarded).toBe(2); // the first read and the one after expiry; later ones held
      expect(roundTrips.filter((r) => r === 'getMany')).toHaveLength(2);
    } finally {
      await cache.close();
      await redis.del(key);
      redis.disconnect();
    }
  });
});

describe('in-process tier when its subscription drops (own redis-server)', () => {
  let own: OwnRedis;
  beforeAll(async () => { own = await ownRedis(); });
  afterAll(async () => { await own.dispose(); });

  it('empties itself and passes through until subscribed again', async () => {
    const prefix = `t.tierdown.${randomBytes(4).toString('hex')}`;
    const admin = new Redis(own.url);
    admin.on('error', () => {});
    const { cache, roundTrips, tier } = await tiered(prefix, own.url);
    const key = cache.keyspace.entity('Book', 1);
    const get = async () => (await cache.store.getMany([cache.keyspace.clock(), key]))[1]!;
    try {
      await admin.set(key, '{"v":"old"}');
      await get();
      await get();
      expect(roundTrips).toEqual(['getMany']);
      expect(tier.size()).toBe(2); // the value and the clock read with it

      // Only the subscriber's connection dies: reads still reach Redis, but none is kept.
      expect(await admin.client('KILL', 'TYPE', 'pubsub')).toBeGreaterThanOrEqual(1);
      await until(() => !tier.active());
      expect(tier.size()).toBe(0);
      await admin.set(key, '{"v":"new"}'); // written while no message could reach us
      roundTrips.length = 0;
      const whileOff: (string | null)[] = [];
      while (!tier.active()) {
        whileOff.push(await get());
        expect(tier.size()).toBe(0);
        await sleep(5);
      }
      expect(whileOff.length).toBeGreaterThan(0);
      expect(whileOff.every((v) => v === '{"v":"new"}')).toBe(true);
      expect(roundTrips).toHaveLength(whileOff.length); // every one went to Redis
      roundTrips.length = 0;
      await get();
      await get();
      expect(roundTrips).toEqual(['getMany']); // subscribed again: the tier serves
      expect(tier.stats.cleared).toBeGreaterThanOrEqual(1);

      // The whole server dies: the tier empties; after the restart it comes back by itself.
      await own.kill();
      await until(() => !tier.active());
      expect(tier.size()).toBe(0);
      await own.start();
      await until(() => tier.active() && cache.usable(), 10_000);
      await admin.set(key, '{"v":"after restart"}');
      roundTrips.length = 0;
      expect(await get()).toBe('{"v":"after restart"}');
      expect(await get()).toBe('{"v":"after restart"}');
      expect(roundTrips).toEqual(['getMany']);
    } finally {
      await cache.close();
      admin.disconnect();
    }
  }, 30_000);
});

describe('the tier barrier', () => {
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

  it('keeps one sync in flight: a read that begins meanwhile waits for the next one, sent after it began', async () => {
    const tier = createLocalTier({} as CacheStore, { prefix: 'p', max: 10, ttlMs: 60_000, epoch: () => 1 });
    const sent: { resolve: () => void; reject: (error: Error) => void }[] = [];
    tier.resume(() => new Promise<void>((resolve, reject) => { sent.push({ resolve, reject }); }));

    const first = [tier.barrier(), tier.barrier()]; // one turn's reads share one sync
    await turn();
    expect(sent).toHaveLength(1);
    let lateDone = false;
    const late = tier.barrier().then((synced) => { lateDone = true; return synced; });
    await turn();
    expect(sent).toHaveLength(1); // none sent while one is in flight
    sent[0]!.resolve();
    expect(await Promise.all(first)).toEqual([true, true]);
    // The first sync may have reached Redis before the late read's writer published its message:
    // it does not vouch for that read, which waits for the sync sent once the first came back.
    await until(() => sent.length === 2);
    expect(lateDone).toBe(false);
    sent[1]!.reject(new Error('timed out'));
    expect(await late).toBe(false); // a failed sync: nothing may be answered from memory
    // Nothing in flight again: the next read's sync is sent at the end of its turn.
    const next = tier.barrier();
    await until(() => sent.length === 3);
    sent[2]!.resolve();
    expect(await next).toBe(true);
  });
});
