import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { openCacheRuntime, type CacheRuntime } from '../../src/cache/cache-runtime.ts';
import type { Dependencies } from '../../src/cache/dependencies.ts';
import { Evictions } from '../../src/cache/evictions.ts';
import { bucketsOfValue } from '../../src/cache/range-buckets.ts';
import { createLocalResponses, type LocalResponses } from '../../src/cache/local-responses.ts';
import { createRedisResponseStore, type ResponseLookup, type ResponseStore, type StoredResponse } from '../../src/cache/response-store.ts';
import type { StoreOperation } from '../../src/cache/store-observer.ts';
import { answerDependencies, TITLE_GENERATION } from '../support/answer-dependencies.ts';
import { TEST_REDIS_URL, unlinkTestKeys } from '../support/test-server.ts';

/**
 * Whole answers held in process (local-responses.ts) on the shared Redis: a reader runtime with the
 * in-process tier on, and a writer runtime (another process's connections, same prefix) whose
 * invalidations reach the reader only as messages.
 */
describe('whole answers held in process', () => {
  let prefix: string;
  let redis: Redis;
  let reader: CacheRuntime;
  let writer: CacheRuntime;
  let roundTrips: StoreOperation[];
  let shared: ResponseStore;
  let local: LocalResponses;
  let answerKey: string;
  let deps: Dependencies;

  const response: StoredResponse = { body: '{"data":{"book":{"title":"Dune"}}}', maxAge: 60, scope: 'PUBLIC', storedAt: Date.now() };

  async function open(ttlMs = 60_000): Promise<void> {
    reader = await openCacheRuntime({
      enabled: true, redisUrl: TEST_REDIS_URL, prefix, epochRefreshMs: 600_000,
      store: { roundTrip: (operation) => { if (operation !== 'raiseCounter') roundTrips.push(operation); } },
      localTier: { max: 100, ttlMs },
    });
    // knownMaxKeys 0: the round trips counted here are the copies' own. A store that remembers
    // answers (known-answers.test.ts) adds, before the script, the MGET that finds one stale.
    shared = createRedisResponseStore(reader.redis!, {
      usable: reader.usable, clockKey: reader.keyspace.clock, knownMaxKeys: 0,
      observer: { roundTrip: (operation) => { roundTrips.push(operation); } },
    });
    local = createLocalResponses(shared, reader.localTier!, { max: 100, ttlMs, usable: reader.usable, epoch: reader.epoch.current });
  }

  beforeEach(async () => {
    prefix = `t.localresp.${randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    roundTrips = [];
    await open();
    writer = await openCacheRuntime({ enabled: true, redisUrl: TEST_REDIS_URL, prefix, epochRefreshMs: 600_000 });
    const ks = reader.keyspace;
    answerKey = ks.response('q1');
    await redis.set(ks.generation('books.TITLE'), TITLE_GENERATION);
    deps = answerDependencies(ks);
    expect(await shared.save(answerKey, response, deps, 60)).toBe(true);
    roundTrips.length = 0;
  });
  afterEach(async () => {
    await reader.close();
    await writer.close();
    await unlinkTestKeys(prefix);
    redis.disconnect();
  });

  /** One lookup: a Redis hit is copied. */
  async function warm(key = answerKey): Promise<void> {
    await local.lookup([key]);
  }

  /** Resolves once the reader has applied `n` invalidation messages more than when it was called. */
  function messages(n = 1): Promise<void> {
    let seen = 0;
    reader.localTier!.follow({ evicted: () => { seen++; }, cleared: () => {} });
    return until(() => seen >= n);
  }

  it('copies an answer found in Redis (its lookup answers its dependencies), then serves repeats without a round trip', async () => {
    const first = await local.lookup([answerKey]);
    expect(first).toMatchObject({ kind: 'hit', key: answerKey, response: { body: response.body } });
    expect(first.kind === 'hit' && [...first.dependencies!].sort()).toEqual(
      [reader.keyspace.tombstone('Author', 7), reader.keyspace.rangeTombstone('books.PRICE', bucketsOfValue(1234)[0]!),
        reader.keyspace.generation('books.TITLE'), reader.keyspace.tombstone('Book', 1)].sort());
    expect(local.size()).toBe(1);
    expect(await local.lookup([answerKey])).toMatchObject({ kind: 'hit', response: { body: response.body } });
    expect(await local.lookup([answerKey])).toMatchObject({ kind: 'hit' });
    expect(roundTrips).toEqual(['responseLookup']);
    expect(local.stats).toMatchObject({ kept: 1, served: 2, discarded: 0 });
  });

  it.each([
    ['an entity it read from the database', () => new Evictions().entity('Book', 1)],
    ['an entity it read from the cache', () => new Evictions().entity('Author', 7)],
    ['a list family it read a page of', () => new Evictions().family('books.TITLE')],
    ['a sort value in the range of a page it read (a price change)', () => new Evictions().reorder('books.PRICE', 1234, 99_999)],
  ])('drops the copy when another process invalidates %s, and Redis refuses the stored answer too', async (_what, evictions) => {
    await warm();
    expect(local.size()).toBe(1);
    const applied = messages();
    await writer.invalidator.apply(evictions());
    await applied;
    // The copy is checked when asked for: dropped, and the lookup goes to Redis, which finds the
    // stored answer stale too (its rebuild gets what Redis answers: a stale answer to patch, a
    // snapshot; the miss carries the mark for its save).
    const next = await local.lookup([answerKey]);
    expect(next).toMatchObject({ kind: 'invalidated', mark: expect.any(Number) });
    expect(roundTrips).toEqual(['responseLookup', 'responseLookup']);
    expect(local.stats).toMatchObject({ evicted: 1, served: 0 });
    expect(local.size()).toBe(0);
  });

  it('keeps the copy when an invalidation names nothing it depends on', async () => {
    await warm();
    const applied = messages();
    await writer.invalidator.apply(new Evictions().entity('Book', 2).family('authors').reorder('books.PRICE', 5_000_000, 5_000_001));
    await applied;
    expect(await local.lookup([answerKey])).toMatchObject({ kind: 'hit' });
    expect(roundTrips).toEqual(['responseLookup']);
    expect(local.stats.evicted).toBe(0);
  });

  it('does not keep a hit when something it depends on was invalidated while the lookup was in flight', async () => {
    // The invalidation runs after Redis checked the answer, and its message arrives before the
    // answer does: the copy must not be kept (nothing would drop it later).
    /** Copies over the shared store whose every lookup has `evicted` named by a message while in flight. */
    const racing = (evicted: string) => createLocalResponses({
      async lookup(keys, options) {
        const found = await shared.lookup(keys, options);
        reader.localTier!.evict([evicted]);
        return found;
      },
      save: shared.save,
    }, reader.localTier!, { max: 10, ttlMs: 60_000, usable: reader.usable, epoch: reader.epoch.current });
    const raced = racing(reader.keyspace.tombstone('Author', 7));
    expect(await raced.lookup([answerKey])).toMatchObject({ kind: 'hit' }); // served, as Redis answered
    expect(raced.stats).toMatchObject({ kept: 0, discarded: 1 });
    expect(raced.size()).toBe(0);

    // A message about something else in flight does not stop it being kept.
    const unrelated = racing(reader.keyspace.tombstone('Book', 99));
    await unrelated.lookup([answerKey]);
    expect(unrelated.stats).toMatchObject({ kept: 1, discarded: 0 });
  });

  /** The mark a missed lookup answers, for the builder's save. */
  const markOf = (found: ResponseLookup) => (found.kind === 'hit' ? undefined : found.mark);

  it('keeps an answer rebuilt after a miss at its save (its reads all came after the miss), unless a dependency changed meanwhile', async () => {
    const rebuilt = reader.keyspace.response('q2');
    const miss = await local.lookup([rebuilt]);
    expect(miss.kind).toBe('absent');
    expect(await local.save(rebuilt, response, deps, 60, { mark: markOf(miss) })).toBe(true);
    expect(await local.lookup([rebuilt])).toMatchObject({ kind: 'hit', response: { body: response.body } });
    expect(roundTrips).toEqual(['responseLookup', 'responseSave']); // served from memory

    // A dependency named between the miss and the save: the build may have read it before the change.
    const raced = reader.keyspace.response('q3');
    const racedMiss = await local.lookup([raced]);
    const applied = messages();
    await writer.invalidator.apply(new Evictions().entity('Author', 7));
    await applied;
    expect(await local.save(raced, response, deps, 60, { mark: markOf(racedMiss) })).toBe(true);
    expect(local.stats).toMatchObject({ kept: 1, discarded: 1 });
    roundTrips.length = 0;
    await local.lookup([raced]);
    expect(roundTrips).toEqual(['responseLookup']); // not held: Redis checked it (and found it stale)

    // A save without a mark (its builder's lookup did not come through here) is not kept.
    const unmarked = reader.keyspace.response('q5');
    await local.save(unmarked, response, deps, 60);
    expect(local.stats.kept).toBe(1);
  });

  it('judges a rebuilt answer from its builder\'s miss, not from a later request\'s', async () => {
    // The builder misses and reads, then a write names what it read; another request for the same
    // answer misses after that message (it waits for the builder). The save brings the builder's
    // own mark back, so the change is seen.
    const answer = reader.keyspace.response('q4');
    const builderMiss = await local.lookup([answer]);
    const applied = messages();
    await writer.invalidator.apply(new Evictions().entity('Book', 1));
    await applied;
    const followerMiss = await local.lookup([answer]);
    expect(markOf(followerMiss)).toBeGreaterThan(markOf(builderMiss)!);
    expect(await local.save(answer, response, deps, 60, { mark: markOf(builderMiss) })).toBe(true);
    expect(local.size()).toBe(0);
    expect(local.stats).toMatchObject({ kept: 0, discarded: 1 });
  });

  it('serves nothing while the subscription is down, and keeps again once it is back', async () => {
    await warm();
    expect(local.size()).toBe(1);
    reader.localTier!.suspend(); // what watchInvalidations does when its connection drops
    expect(local.size()).toBe(0);
    await local.lookup([answerKey]);
    await local.lookup([answerKey]);
    expect(roundTrips).toHaveLength(3);
    expect(local.size()).toBe(0);
    reader.localTier!.resume();
    await local.lookup([answerKey]); // copied again
    await local.lookup([answerKey]);
    expect(roundTrips).toHaveLength(4);
    expect(local.stats.served).toBe(1);
  });

  it('empties on an epoch change (the answers of a retired epoch are unreachable)', async () => {
    await warm();
    await writer.epoch.bump();
    await until(() => reader.epoch.current() === writer.epoch.current());
    expect(await local.lookup([answerKey])).toMatchObject({ kind: 'hit' }); // the old key: answered by Redis, not memory
    expect(local.stats.served).toBe(0);
    expect(roundTrips).toHaveLength(2);
  });

  it('holds a copy no longer than the tier bound, nor past the answer\'s maxAge', async () => {
    await reader.close();
    roundTrips = [];
    await open(150);
    await warm();
    await local.lookup([answerKey]);
    expect(roundTrips).toHaveLength(1);
    await sleep(200);
    await local.lookup([answerKey]);
    expect(roundTrips).toHaveLength(2);

    // An answer stored 59.9 s ago with maxAge 60 may be held for 0.1 s at most.
    const old = reader.keyspace.response('old');
    await shared.save(old, { ...response, storedAt: Date.now() - 59_900 }, deps, 60);
    roundTrips.length = 0;
    await warm(old);
    await local.lookup([old]);
    expect(roundTrips).toHaveLength(1);
    await sleep(150);
    await local.lookup([old]);
    expect(roundTrips).toHaveLength(2);

    // The same answer kept in Redis past its maxAge (expiresAt later): held for the tier's bound.
    const kept = reader.keyspace.response('kept');
    await shared.save(kept, { ...response, storedAt: Date.now() - 70_000, expiresAt: Date.now() + 60_000 }, deps, 60);
    roundTrips.length = 0;
    await warm(kept);
    await local.lookup([kept]);
    await sleep(100);
    await local.lookup([kept]);
    expect(roundTrips).toHaveLength(1); // the later lookups still served from memory
  });

  it('holds at most `max` copies, dropping the longest held first', async () => {
    const bounded = createLocalResponses(shared, reader.localTier!, { max: 2, ttlMs: 60_000, usable: reader.usable, epoch: reader.epoch.current });
    const keys = ['b1', 'b2', 'b3'].map((name) => reader.keyspace.response(name));
    for (const key of keys) await shared.save(key, response, deps, 60);
    roundTrips.length = 0;
    for (const key of keys) await bounded.lookup([key]);
    expect(bounded.size()).toBe(2);
    expect(roundTrips).toHaveLength(3);
    await bounded.lookup([keys[2]!]);
    await bounded.lookup([keys[1]!]);
    expect(roundTrips).toHaveLength(3); // b2 and b3 held
    await bounded.lookup([keys[0]!]); // b1 was dropped when b3 came in
    expect(roundTrips).toHaveLength(4);
    expect(bounded.size()).toBe(2);
  });

  it('does not serve a copy older than the messages it remembers (it cannot tell whether one named it)', async () => {
    await warm();
    // Thousands of messages about other keys: the copy's own point in the stream is forgotten.
    for (let i = 0; i < 70_000; i++) reader.localTier!.evict([reader.keyspace.tombstone('Book', 100_000 + i)]);
    expect(await local.lookup([answerKey])).toMatchObject({ kind: 'hit' });
    expect(roundTrips).toEqual(['responseLookup', 'responseLookup']);
    expect(await local.lookup([answerKey])).toMatchObject({ kind: 'hit' }); // copied again: from memory
    expect(roundTrips).toHaveLength(2);
  });

  it('answers only the first key from memory, and a save drops the copy it replaces', async () => {
    const privateKey = reader.keyspace.response('q1', 'a1');
    await warm(); // the public answer is held
    await local.lookup([privateKey, answerKey]); // a viewer's own answer may exist in Redis: asked there
    expect(roundTrips).toHaveLength(2);
    expect(local.size()).toBe(1);
    await local.save(answerKey, { ...response, body: '{"data":{"book":{"title":"Dune II"}}}' }, deps, 60);
    expect(local.size()).toBe(0);
    expect(await local.lookup([answerKey])).toMatchObject({ response: { body: '{"data":{"book":{"title":"Dune II"}}}' } });
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await sleep(1);
  }
}
