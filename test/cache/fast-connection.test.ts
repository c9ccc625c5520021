import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { openCacheRuntime, type CacheRuntime } from '../../src/cache/cache-runtime.ts';
import { createFastConnection, luaScript, type FastConnection } from '../../src/cache/fast-connection.ts';
import { createRedisStore } from '../../src/cache/redis-store.ts';
import { COMMAND_TIMEOUT_MS } from '../../src/cache/redis-client.ts';
import { createRedisResponseStore } from '../../src/cache/response-store.ts';
import { RESPONSE_CACHE_HEADER } from '../../src/server/response-cache.ts';
import type { StoreOperation } from '../../src/cache/store-observer.ts';
import { answerDependencies } from '../support/answer-dependencies.ts';
import { ownRedis, type OwnRedis } from '../support/own-redis.ts';
import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';
import { startTestServer, TEST_REDIS_URL, unlinkTestKeys } from '../support/test-server.ts';

async function until(what: string, check: () => boolean, ms = 3000): Promise<void> {
  for (const deadline = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
  }
}

describe('the fast connection (fast-connection.ts)', () => {
  const prefix = `t.fast.${randomBytes(4).toString('hex')}`;
  let redis: Redis;
  let reads: FastConnection;

  beforeAll(async () => {
    redis = new Redis(TEST_REDIS_URL);
    reads = createFastConnection(TEST_REDIS_URL, { timeoutMs: COMMAND_TIMEOUT_MS });
    await until('connected', () => reads.ready());
  });
  afterAll(async () => {
    await reads.close();
    await unlinkTestKeys(prefix);
    redis.disconnect();
  });

  it('answers an MGET in the order asked, absent keys as null, from the URL’s database', async () => {
    await redis.set(`${prefix}:a`, 'first');
    await redis.set(`${prefix}:c`, '{"ü":"ünïcode"}');
    expect(await reads.mget([`${prefix}:a`, `${prefix}:b`, `${prefix}:c`])).toEqual(['first', null, '{"ü":"ünïcode"}']);
  });

  it('runs a script by its SHA, loading it with EVAL the first time Redis does not know it', async () => {
    // A script no one has run: Redis answers NOSCRIPT to its EVALSHA.
    const script = luaScript(`-- ${prefix}\nredis.call('SET', KEYS[1], ARGV[1]) return {redis.call('GET', KEYS[1]), tonumber(ARGV[2]) + 1}`);
    expect(await redis.script('EXISTS', script.sha)).toEqual([0]);
    const sent = jest.spyOn(reads, 'command');
    expect(await reads.script(script, [`${prefix}:s`], ['one', 41])).toEqual(['one', 42]);
    expect(await redis.script('EXISTS', script.sha)).toEqual([1]);
    expect(await reads.script(script, [`${prefix}:s`], ['two', 1])).toEqual(['two', 2]);
    expect(await redis.get(`${prefix}:s`)).toBe('two');
    sent.mockRestore();
  });

  it('sends any command, numbers as strings, and rejects with Redis’s own error', async () => {
    expect(await reads.command(['SET', `${prefix}:n`, 'v', 'EX', 60])).toBe('OK');
    expect(await reads.command(['SET', `${prefix}:n`, 'w', 'NX'])).toBeNull();
    expect(await redis.ttl(`${prefix}:n`)).toBeGreaterThan(50);
    await expect(reads.command(['INCR', `${prefix}:n`])).rejects.toThrow(/not an integer/);
    expect(await reads.mget([`${prefix}:n`])).toEqual(['v']); // and the connection goes on
  });

  it('is not ready once closed', async () => {
    const other = createFastConnection(TEST_REDIS_URL, { timeoutMs: COMMAND_TIMEOUT_MS });
    await until('connected', () => other.ready());
    await other.close();
    expect(other.ready()).toBe(false);
  });
});

describe('the store and the response cache on the fast connection', () => {
  const prefix = `t.fastkn.${randomBytes(4).toString('hex')}`;
  let runtime: CacheRuntime;
  const roundTrips: StoreOperation[] = [];

  beforeAll(async () => {
    runtime = await openCacheRuntime({ enabled: true, redisUrl: TEST_REDIS_URL, prefix, epochRefreshMs: 600_000, fastConnection: true });
    await until('the fast connection is ready', () => runtime.fastConnection?.ready() === true);
  });
  afterAll(async () => {
    await runtime.close();
    await unlinkTestKeys(prefix);
  });

  it('is opened only when asked for (the server uses it; the CLIs do not)', async () => {
    const plain = await openCacheRuntime({ enabled: true, redisUrl: TEST_REDIS_URL, prefix, epochRefreshMs: 600_000 });
    expect(plain.fastConnection).toBeNull();
    await plain.close();
  });

  it('a hit is one MGET on the fast connection (none on ioredis, no script); while it is down, one on ioredis', async () => {
    const fast = runtime.fastConnection!;
    const store = createRedisResponseStore(runtime.redis!, {
      usable: runtime.usable, clockKey: runtime.keyspace.clock, fastConnection: fast,
      observer: { roundTrip: (operation) => { roundTrips.push(operation); } },
    });
    const key = runtime.keyspace.response('fast-hit');
    const body = '{"data":{"book":{"title":"Fast"}}}';
    expect(await store.save(key, { body, maxAge: 60, scope: 'PUBLIC', storedAt: Date.now() }, answerDependencies(runtime.keyspace), 60)).toBe(true);

    const fastMget = jest.spyOn(fast, 'mget');
    const slowMget = jest.spyOn(runtime.redis! as unknown as { mget: (...keys: string[]) => unknown }, 'mget');
    roundTrips.length = 0;
    const hit = await store.lookup([key]);
    expect(hit).toMatchObject({ kind: 'hit', response: { body } });
    expect([fastMget.mock.calls.length, slowMget.mock.calls.length, roundTrips]).toEqual([1, 0, ['responseLookup']]);

    // The fast connection not ready (reconnecting): the same MGET goes over ioredis instead.
    const ready = jest.spyOn(fast, 'ready').mockReturnValue(false);
    fastMget.mockClear();
    roundTrips.length = 0;
    expect(await store.lookup([key])).toMatchObject({ kind: 'hit', response: { body } });
    expect([fastMget.mock.calls.length, slowMget.mock.calls.length, roundTrips]).toEqual([0, 1, ['responseLookup']]);
    ready.mockRestore();
    fastMget.mockRestore();
    slowMget.mockRestore();
  });

  it('lookups, fills, leases and invalidations run there too, each operation on one connection; while it is down, on ioredis', async () => {
    const fast = runtime.fastConnection!;
    const operations: StoreOperation[] = [];
    const store = createRedisStore(runtime.redis!, { roundTrip: (operation) => { operations.push(operation); } }, undefined, fast);
    const { keyspace } = runtime;
    const ioredis = runtime.redis! as unknown as Record<string, (...args: unknown[]) => unknown>;
    const slow = ['cacheLookup', 'cacheFillMany', 'cacheInvalidate', 'set', 'get'].map((name) => jest.spyOn(ioredis as Record<string, () => unknown>, name));
    const scripts = jest.spyOn(fast, 'script');
    const commands = jest.spyOn(fast, 'command');

    /** A miss takes its lease, fills under it, is read back, and is invalidated. */
    async function cycle(id: number, token: string): Promise<void> {
      const [value, tombstone, lease] = [keyspace.entity('Book', id), keyspace.tombstone('Book', id), keyspace.entityLease('Book', id)];
      const found = await store.lookup([{ key: value, lease: { key: lease, token, ttlMs: 2000 } }]);
      expect(found).toEqual({ values: [null], leases: ['acquired'] });
      expect(await store.acquire([{ key: lease, token: `${token}.again`, ttlMs: 2000, valueKey: value }], [])).toEqual({ acquired: [false], values: [null], generations: [] });
      await store.setMany([{ key: value, value: '{"v":7}', ttlSeconds: 60, guard: { tombstoneKey: tombstone, readClock: 0 }, lease: { key: lease, token } }]);
      expect(await store.getMany([value, lease])).toEqual(['{"v":7}', null]); // filled, lease released
      await store.invalidate({ entities: [{ key: value, tombstoneKey: tombstone, leaseKey: lease }], generationKeys: [], clockKey: keyspace.clock(), tombstoneTtlMs: 60_000 });
      expect(await store.getMany([value])).toEqual([null]);
      expect(operations).toEqual(['getMany', 'acquire', 'setMany', 'getMany', 'invalidate', 'getMany']);
      operations.length = 0;
    }

    await cycle(7, 'fast-token');
    expect(scripts.mock.calls.map(([script]) => script.sha)).toHaveLength(3); // lookup, fill, invalidate
    expect(commands.mock.calls.map(([args]) => String(args[0]).toLowerCase())).toEqual(['set', 'get']); // the lease's SET NX and GET
    expect(slow.map((spy) => spy.mock.calls.length)).toEqual([0, 0, 0, 0, 0]);

    // Not ready (reconnecting): the same operations, the same results, over ioredis.
    const ready = jest.spyOn(fast, 'ready').mockReturnValue(false);
    scripts.mockClear();
    commands.mockClear();
    await cycle(8, 'slow-token');
    expect([scripts.mock.calls.length, commands.mock.calls.length]).toEqual([0, 0]);
    expect(slow.map((spy) => spy.mock.calls.length > 0)).toEqual([true, true, true, true, true]);
    for (const spy of [ready, scripts, commands, ...slow]) spy.mockRestore();
  });
});

// A Redis of the test's own: paused, then killed and restarted.
describe('the fast connection fails fast', () => {
  let own: OwnRedis;
  let reads: FastConnection;
  let admin: Redis;
  let stallCount = 0;

  beforeAll(async () => {
    own = await ownRedis();
    reads = createFastConnection(own.url, { timeoutMs: COMMAND_TIMEOUT_MS, onStall: () => { stallCount++; } });
    admin = new Redis(own.url, { maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    admin.on('error', () => {});
    await until('connected', () => reads.ready());
  });
  afterAll(async () => {
    await reads.close();
    admin.disconnect();
    await own.dispose();
  });

  it('when Redis stops answering, the waiting commands fail after the timeout, and a new connection is opened', async () => {
    const stalls = stallCount;
    await admin.call('CLIENT', 'PAUSE', '800', 'ALL');
    const started = performance.now();
    const waiting = [reads.mget(['k']), reads.mget(['k'])].map((reply) => reply.then(() => 'answered', () => performance.now() - started));
    const [first, second] = await Promise.all(waiting);
    // Both failed, after the timeout and before Redis would have answered (the watchdog looks every 25 ms).
    for (const waited of [first, second]) {
      expect(typeof waited).toBe('number');
      expect(waited as number).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 5);
      expect(waited as number).toBeLessThan(COMMAND_TIMEOUT_MS + 25 + 400); // a busy machine; the pause is 800 ms
    }
    expect(stallCount - stalls).toBe(1);
    await admin.call('CLIENT', 'UNPAUSE');
    await until('the new connection is ready', () => reads.ready(), 5000);
    expect(await reads.mget(['k'])).toEqual([null]);
  });

  it('answers that keep coming are no stall, however many commands wait', async () => {
    const stalls = stallCount;
    for (let i = 0; i < 20; i++) await Promise.all([reads.mget(['k']), reads.mget(['k', 'l'])]);
    expect(stallCount).toBe(stalls);
  });

  it('while Redis is down a command fails at once (no offline queue); it reconnects when Redis is back', async () => {
    await own.kill();
    await until('not ready', () => !reads.ready());
    const started = performance.now();
    await expect(reads.mget(['k'])).rejects.toThrow();
    // Failed, not queued until a timeout: well before the command timeout (typically < 1 ms; the
    // margin is for a busy machine, where one GC pause or a parallel test file can take tens of ms).
    expect(performance.now() - started).toBeLessThan(COMMAND_TIMEOUT_MS / 2);
    await own.start();
    await until('ready again', () => reads.ready(), 5000);
    expect(await reads.mget(['k'])).toEqual([null]);
  });
});

describe('a server with the whole-response cache', () => {
  it('answers a repeated query from the fast connection: one MGET there, none on ioredis', async () => {
    const server = await startTestServer('sqlite', 'fast-server', { responseCache: true });
    try {
      await insertFixture(server.app.orm, { authors: 1, booksPerAuthor: 2, reviewsPerBook: 1 });
      const query = `{ book(id: "${gid('Book', 1)}") { title author { name } } }`;
      const fast = server.app.cache.fastConnection!;
      await until('the fast connection is ready', () => fast.ready());
      expect((await server.gql(query)).headers.get(RESPONSE_CACHE_HEADER)).toBe('MISS');
      const fastMget = jest.spyOn(fast, 'mget');
      const slowMget = jest.spyOn(server.app.cache.redis! as unknown as { mget: (...keys: string[]) => unknown }, 'mget');
      server.counters.reset();
      const again = await server.gql(query);
      expect([again.headers.get(RESPONSE_CACHE_HEADER), again.data.book.title]).toEqual(['HIT', 'Book 1.1']);
      expect([fastMget.mock.calls.length, slowMget.mock.calls.length, server.counters.roundTrips.map((r) => r.operation)]).toEqual([1, 0, ['responseLookup']]);
    } finally {
      await server.close();
    }
  });
});
