import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { openCacheRuntime, type CacheRuntime } from '../../src/cache/cache-runtime.ts';
import { dependencyKeys, type Dependencies } from '../../src/cache/dependencies.ts';
import { Evictions } from '../../src/cache/evictions.ts';
import { checkPasses, knownFromHeader } from '../../src/cache/known-answers.ts';
import { createRedisResponseStore, type ResponseStore, type StoredResponse } from '../../src/cache/response-store.ts';
import type { StoreOperation } from '../../src/cache/store-observer.ts';
import { answerDependencies, TITLE_GENERATION } from '../support/answer-dependencies.ts';
import { TEST_REDIS_URL, unlinkTestKeys } from '../support/test-server.ts';

describe('checking a remembered answer (known-answers.ts)', () => {
  const header = { c: 10, i: 'b1', t: ['t:A', 't:B'], o: ['t:C', '', 't:D', '7'], g: ['g:E', '3'] };
  const known = knownFromHeader(header)!;

  it('reads the tombstones, then the observed tombstones and generations, after the answer', () => {
    expect(known.reads).toEqual(['t:A', 't:B', 't:C', 't:D', 'g:E']);
    expect(known.head).toBe('{"c":10,"i":"b1"');
    expect(JSON.stringify({ ...header, r: [] }).startsWith(known.head)).toBe(true);
  });

  it.each([
    ['nothing changed', ['x', null, '10', null, '7', '3'], true],
    ['a tombstone not newer than the clock', ['x', '9', '10', null, '7', '3'], true],
    ['a tombstone newer than the clock', ['x', '11', null, null, '7', '3'], false],
    ['an observed tombstone that appeared', ['x', null, null, '12', '7', '3'], false],
    ['an observed tombstone that moved', ['x', null, null, null, '8', '3'], false],
    ['an observed tombstone that is gone', ['x', null, null, null, null, '3'], false],
    ['a generation bumped', ['x', null, null, null, '7', '4'], false],
  ])('%s', (_what, values, current) => {
    expect(checkPasses(known, values, 1)).toBe(current);
  });

  it('knows nothing of an answer stored without a build id (by an earlier version)', () => {
    expect(knownFromHeader({ c: 10, t: [], o: [], g: [] })).toBeNull();
  });
});

/**
 * The Redis response store remembers the answers it saved or found (build id and dependencies), so
 * that their hits are one plain MGET, checked here, instead of the lookup script.
 */
describe('remembered answers in the Redis response store', () => {
  let prefix: string;
  let redis: Redis;
  let reader: CacheRuntime;
  let writer: CacheRuntime;
  let roundTrips: StoreOperation[];
  let store: ResponseStore;
  let deps: Dependencies;

  const response = (title: string): StoredResponse => ({ body: `{"data":{"book":{"title":"${title}"}}}`, maxAge: 60, scope: 'PUBLIC', storedAt: Date.now() });

  const storeOn = (runtime: CacheRuntime, knownMaxKeys?: number) => createRedisResponseStore(runtime.redis!, {
    usable: runtime.usable, clockKey: runtime.keyspace.clock, knownMaxKeys,
    observer: { roundTrip: (operation) => { roundTrips.push(operation); } },
  });

  /**
   * What the store sends from now on: plain MGETs (spied on) and lookup scripts (the lookups'
   * other round trips; ioredis calls a script's method more than once when it pipelines it).
   */
  function commandsOf(runtime: CacheRuntime) {
    const client = runtime.redis! as unknown as Record<string, (...args: unknown[]) => unknown>;
    const mget = jest.spyOn(client, 'mget');
    const before = roundTrips.filter((r) => r === 'responseLookup').length;
    const scripts = () => roundTrips.filter((r) => r === 'responseLookup').length - before - mget.mock.calls.length;
    return { mget, scripts };
  }

  beforeEach(async () => {
    prefix = `t.known.${randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    roundTrips = [];
    reader = await openCacheRuntime({ enabled: true, redisUrl: TEST_REDIS_URL, prefix, epochRefreshMs: 600_000 });
    writer = await openCacheRuntime({ enabled: true, redisUrl: TEST_REDIS_URL, prefix, epochRefreshMs: 600_000 });
    store = storeOn(reader);
    const ks = reader.keyspace;
    await redis.set(ks.generation('books.TITLE'), TITLE_GENERATION);
    // Its loaders read author 7's value (the key a rebuild's snapshot reads).
    deps = { ...answerDependencies(ks), reads: [ks.entity('Author', 7)] };
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await reader.close();
    await writer.close();
    await unlinkTestKeys(prefix);
    redis.disconnect();
  });

  it('checks an answer it saved with one MGET of the answer and its dependencies, without the script', async () => {
    const key = reader.keyspace.response('q1');
    expect(await store.save(key, response('Dune'), deps, 60)).toBe(true);
    const sent = commandsOf(reader);
    roundTrips.length = 0;
    expect(await store.lookup([key])).toMatchObject({ kind: 'hit', key, response: { body: response('Dune').body } });
    expect(sent.mget).toHaveBeenCalledTimes(1);
    expect(sent.mget.mock.calls[0]).toEqual([reader.keyspace.clock(), key, ...dependencyKeys(deps)]);
    expect(sent.scripts()).toBe(0);
    expect(roundTrips).toEqual(['responseLookup']);
    // Asked with its dependencies (an in-process copy follows them): the same MGET answers them.
    expect(await store.lookup([key], { withDependencies: true })).toMatchObject({ kind: 'hit', dependencies: dependencyKeys(deps) });
    // Served so far on the clock alone (none yet, which reads as 0, the answer's clock). An
    // invalidation of something else moves it: now the dependencies decide, and they are current.
    await writer.invalidator.apply(new Evictions().entity('Book', 2));
    expect(await store.lookup([key])).toMatchObject({ kind: 'hit', response: { body: response('Dune').body } });
    expect(sent.scripts()).toBe(0);
    // Every hit of the build answers the stored answer whole (its meta line is parsed once), with
    // the same MGET (its keys built once per epoch).
    const stored = { ...response('Dune'), storedAt: 1_000 };
    expect(await store.save(key, stored, deps, 60)).toBe(true);
    const hits = [await store.lookup([key]), await store.lookup([key])];
    for (const hit of hits) expect(hit).toEqual({ kind: 'hit', key, response: stored });
    expect(sent.mget.mock.calls.at(-1)).toEqual([reader.keyspace.clock(), key, ...dependencyKeys(deps)]);
    // Another build under the key (here, another title): its own meta and body.
    const other = { ...response('Dune II'), maxAge: 30, storedAt: 2_000, expiresAt: 90_000 };
    expect(await store.save(key, other, deps, 60)).toBe(true);
    expect(await store.lookup([key])).toEqual({ kind: 'hit', key, response: other });
  });

  it('learns an answer another process saved from its first, scripted, hit', async () => {
    const key = reader.keyspace.response('q1');
    await storeOn(writer).save(key, response('Dune'), deps, 60);
    const sent = commandsOf(reader);
    expect(await store.lookup([key])).toMatchObject({ kind: 'hit', response: { body: response('Dune').body } });
    expect([sent.scripts(), sent.mget.mock.calls.length]).toEqual([1, 0]);
    expect(await store.lookup([key])).toMatchObject({ kind: 'hit', response: { body: response('Dune').body } });
    expect([sent.scripts(), sent.mget.mock.calls.length]).toEqual([1, 1]);
  });

  it.each([
    ['an entity it read from the database', () => new Evictions().entity('Book', 1)],
    ['an entity it read from the cache', () => new Evictions().entity('Author', 7)],
    ['a list family it read a page of', () => new Evictions().family('books.TITLE')],
    ['a sort value in the range of a page it read (a price change)', () => new Evictions().reorder('books.PRICE', 1234, 99_999)],
  ])('finds it stale when another process invalidates %s, and reads the snapshot for its rebuild, without the script', async (_what, evictions) => {
    const key = reader.keyspace.response('q1');
    await store.save(key, response('Dune'), deps, 60);
    await writer.invalidator.apply(evictions());
    const sent = commandsOf(reader);
    roundTrips.length = 0;
    const found = await store.lookup([key]);
    expect(found.kind).toBe('invalidated');
    // The snapshot: the clock, the keys its loaders read, its dependencies — as they are now.
    const ks = reader.keyspace;
    const snapshot = found.kind === 'hit' ? null : found.snapshot!;
    expect([...snapshot!.keys()]).toEqual([ks.clock(), ks.entity('Author', 7), ...dependencyKeys(deps)]);
    expect(snapshot!.get(ks.clock())).toBe(await redis.get(ks.clock()));
    expect(sent.mget.mock.calls[1]).toEqual([...snapshot!.keys()]);
    expect([sent.mget.mock.calls.length, sent.scripts()]).toEqual([2, 0]);
    expect(roundTrips).toEqual(['responseLookup', 'responseLookup']);
    // Left for the rebuild's save to replace: until then it is found stale again, never served.
    expect(await store.lookup([key])).toMatchObject({ kind: 'invalidated' });
    const rebuilt = { ...deps, clock: Number(await redis.get(ks.clock())) };
    await store.save(key, response('Dune, rebuilt'), rebuilt, 60);
    expect(await store.lookup([key])).toMatchObject({ kind: 'hit', response: { body: response('Dune, rebuilt').body } });
    expect(sent.scripts()).toBe(0);
  });

  it('never takes another build stored under the same key for the one it remembers', async () => {
    const key = reader.keyspace.response('q1');
    await store.save(key, response('Dune'), deps, 60);
    // Another process rebuilds it, from other dependencies (the book only).
    const other = { clock: 0, tombstones: [reader.keyspace.tombstone('Book', 1)], observed: [], generations: [] };
    await storeOn(writer).save(key, response('Dune Messiah'), other, 60);
    const sent = commandsOf(reader);
    expect(await store.lookup([key])).toMatchObject({ kind: 'hit', response: { body: response('Dune Messiah').body } });
    expect([sent.mget.mock.calls.length, sent.scripts()]).toEqual([1, 1]); // MGET: not ours; the script checks it
    // Learnt: its MGET now reads only what that build depends on.
    expect(await store.lookup([key])).toMatchObject({ kind: 'hit', response: { body: response('Dune Messiah').body } });
    expect(sent.mget.mock.calls[1]).toEqual([reader.keyspace.clock(), key, reader.keyspace.tombstone('Book', 1)]);
    expect(sent.scripts()).toBe(1);
  });

  it('asks for a viewer\'s answer and the public one in the same MGET, and leaves an answer it does not know to the script', async () => {
    const publicKey = reader.keyspace.response('q1');
    const privateKey = reader.keyspace.response('q1', 'a5');
    await store.save(publicKey, response('Dune'), deps, 60);
    const sent = commandsOf(reader);
    expect(await store.lookup([privateKey, publicKey])).toMatchObject({ kind: 'hit', key: publicKey });
    expect(sent.mget.mock.calls[0]).toEqual([reader.keyspace.clock(), privateKey, publicKey, ...dependencyKeys(deps)]);
    expect(sent.scripts()).toBe(0);
    // The viewer's own answer, stored by another process: present but unknown here.
    await storeOn(writer).save(privateKey, response('Mine'), deps, 60);
    expect(await store.lookup([privateKey, publicKey])).toMatchObject({ kind: 'hit', key: privateKey, response: { body: response('Mine').body } });
    expect(sent.scripts()).toBe(1);
  });

  it('goes on past a stale answer to the next key, as the script does', async () => {
    const publicKey = reader.keyspace.response('q1');
    const privateKey = reader.keyspace.response('q1', 'a5');
    const ks = reader.keyspace;
    // The viewer's answer depends on author 7; the public one only on book 1.
    await store.save(privateKey, response('Mine'), { ...deps, tombstones: [], observed: [ks.tombstone('Author', 7), ''], generations: [] }, 60);
    await store.save(publicKey, response('Dune'), { clock: 0, tombstones: [ks.tombstone('Book', 1)], observed: [], generations: [] }, 60);
    await writer.invalidator.apply(new Evictions().entity('Author', 7));
    const sent = commandsOf(reader);
    expect(await store.lookup([privateKey, publicKey])).toMatchObject({ kind: 'hit', key: publicKey, response: { body: response('Dune').body } });
    expect([sent.mget.mock.calls.length, sent.scripts()]).toEqual([1, 0]);
  });

  it('leaves an answer stored without a build id (an earlier version) to the script, every time', async () => {
    const key = reader.keyspace.response('q1');
    const legacy = JSON.stringify({ c: 0, t: deps.tombstones, o: deps.observed, g: deps.generations });
    await redis.set(key, `${legacy}\n{"a":60,"s":"PUBLIC","at":1}\n${response('Dune').body}`, 'EX', 60);
    const sent = commandsOf(reader);
    for (let i = 0; i < 2; i++) expect(await store.lookup([key])).toMatchObject({ kind: 'hit', response: { body: response('Dune').body } });
    expect([sent.mget.mock.calls.length, sent.scripts()]).toEqual([0, 2]);
  });

  it('remembers answers up to its bound in dependency keys, the least recently used forgotten first', async () => {
    // Each answer counts 1 + its 4 dependencies + the 1 key its loaders read: a bound of 12 holds two.
    const small = storeOn(reader, 12);
    const keys = ['q1', 'q2', 'q3'].map((q) => reader.keyspace.response(q));
    for (const key of keys) await small.save(key, response('Dune'), deps, 60);
    const sent = commandsOf(reader);
    // Saving q3 made it forget q1: q3 and q2 by MGET, q1 by the script.
    for (const key of [...keys].reverse()) expect(await small.lookup([key])).toMatchObject({ kind: 'hit' });
    expect(sent.mget.mock.calls.map((call) => call[1])).toEqual([keys[2], keys[1]]);
    expect(sent.scripts()).toBe(1);
  });
});
