import { announcedKeys, bypassedLookup, type CacheEntry, type CacheStore } from './cache-store.ts';
import type CircuitBreaker from 'opossum';
import { luaScript, type FastConnection } from './fast-connection.ts';
import { MGET_ALL_LUA } from './mget-all-lua.ts';
import { createRedisBreaker } from './redis-breaker.ts';
import { timedRoundTrip } from './round-trip.ts';
import type { RedisClient } from './redis-client.ts';
import { createRedisCommands, type RedisCommand } from './redis-commands.ts';
import type { StoreObserver, StoreOperation } from './store-observer.ts';

/**
 * Versioned fills, in triples of KEYS (value, tombstone, lease) and quadruples of ARGV (value, ttl
 * seconds, read clock (-1: unguarded), lease token ('' : none)). Each value is written unless its
 * entity was invalidated after the filler read the clock (the tombstone holds the clock of the last
 * invalidation); then the filler's lease is released if it is still the holder — also when the
 * fill is refused: the filler is done either way, and a lease left to expire would keep every
 * waiter polling until its TTL. (A lease taken after the invalidation that refuses the fill
 * survives it: the invalidation deleted only the leases that existed then.)
 * Defined twice: `cacheFill` takes one entry (a cluster: its keys share one slot), `cacheFillMany`
 * a whole batch (a single Redis), its key count first.
 */
const FILL_SCRIPT = `
for i = 0, #KEYS / 3 - 1 do
  local value, tombstone, lease = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  local readClock = tonumber(ARGV[i * 4 + 3])
  local written = true
  if readClock >= 0 then
    local t = redis.call('GET', tombstone)
    if t and tonumber(t) > readClock then written = false end
  end
  if written then redis.call('SET', value, ARGV[i * 4 + 1], 'EX', ARGV[i * 4 + 2]) end
  local token = ARGV[i * 4 + 4]
  if token ~= '' and redis.call('GET', lease) == token then redis.call('DEL', lease) end
end
return 1`;

/** Raises a counter to at least ARGV[1]; returns its value. */
const RAISE_SCRIPT = `local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if v < floor then redis.call('SET', KEYS[1], floor) return floor end
return v`;

/**
 * Writes a tombstone only upwards: two overlapping invalidations of one entity may land in either
 * order, and a tombstone that went back to the older clock would let a stale fill through.
 * A Lua function shared by the one-tombstone script (a cluster's invalidation) and the whole
 * invalidation script (a single Redis).
 */
const RAISE_TOMBSTONE = `local function raise(key, clock, ttl)
  local t = tonumber(redis.call('GET', key) or '-1')
  if t < tonumber(clock) then redis.call('SET', key, clock, 'PX', ttl) else redis.call('PEXPIRE', key, ttl) end
end
`;
/**
 * The clock's next value. A clock that is gone while entries it versioned survive (evicted,
 * deleted by hand) must not come back below values it already handed out: tombstones written
 * under the new count would look older than answers and fills recorded under the old one, and
 * those would pass as current. So a missing clock restarts at Redis's time in microseconds
 * (≈1.8e15, exact in a double and in JavaScript), above any count it could have reached; a new
 * epoch's first invalidation starts there too. Built as a string: Lua's own number formatting
 * would round it.
 */
const NEXT_CLOCK = `local function nextClock(key)
  if redis.call('EXISTS', key) == 1 then return redis.call('INCR', key) end
  local now = redis.call('TIME')
  local restart = now[1] .. string.rep('0', 6 - #now[2]) .. now[2]
  redis.call('SET', key, restart)
  return restart
end
`;
/** The clock's next value, alone (a cluster's invalidation: the clock lives in its own slot). */
const CLOCK_SCRIPT = `${NEXT_CLOCK}return nextClock(KEYS[1])`;

/** One tombstone. ARGV: clock, ttl ms. */
const TOMBSTONE_SCRIPT = `${RAISE_TOMBSTONE}raise(KEYS[1], ARGV[1], ARGV[2])
return 1`;

/**
 * A whole invalidation in one atomic script (a single Redis; a cluster cannot run it, its keys live
 * in many slots): INCR the clock (always), raise each tombstone to it (entities' and range buckets'), DEL
 * values and leases, INCR generations, PUBLISH what was evicted and bumped, read the epoch. Being
 * atomic, no reader can see the new clock before the tombstones, nor a tombstone before the DEL.
 * KEYS: clock, tombstones…, deleted…, generations…, fills (value key, tombstone key)…, page fills
 * (page key, generation key)…, [epoch].
 * ARGV: tombstone ttl ms, #tombstones, #deleted, #generations, channel ('' : none), message, '1'
 * when the epoch key is last, #fills, then per fill its value, ttl seconds and guard clock: the
 * writer's value is set after the deletes only if the entity's tombstone before this script was
 * not newer than the guard (EntityEviction.fill); then #page fills, and per page fill its value,
 * ttl seconds and expected generation: set after the INCRs only if the page's generation before
 * this script was that one (InvalidationRequest.pageFills).
 */
const INVALIDATE_SCRIPT = `${RAISE_TOMBSTONE}${NEXT_CLOCK}
local ttl = ARGV[1]
local nt, nd, ng, nf = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[8] or '0')
local first = nt + 2
local fillAt = first + nd + ng
-- The fills' tombstones as they were before this invalidation raises them (-1: none).
local before = {}
for i = 0, nf - 1 do before[i] = tonumber(redis.call('GET', KEYS[fillAt + 2 * i + 1]) or '-1') end
-- The page fills' generations as they were before this invalidation bumps them.
local pageArgs = 9 + 3 * nf
local np = tonumber(ARGV[pageArgs] or '0')
local pageAt = fillAt + 2 * nf
local generationBefore = {}
for i = 0, np - 1 do generationBefore[i] = redis.call('GET', KEYS[pageAt + 2 * i + 1]) or '' end
-- Every invalidation moves the clock, tombstones or not: a stored response whose clock is still
-- the current one has seen no invalidation at all (response-store.ts's lookup relies on it).
local clock = nextClock(KEYS[1])
for i = 2, nt + 1 do raise(KEYS[i], clock, ttl) end
for i = first, first + nd - 1, 500 do redis.call('DEL', unpack(KEYS, i, math.min(i + 499, first + nd - 1))) end
for i = first + nd, first + nd + ng - 1 do redis.call('INCR', KEYS[i]) end
for i = 0, nf - 1 do
  if before[i] <= tonumber(ARGV[11 + 3 * i]) then redis.call('SET', KEYS[fillAt + 2 * i], ARGV[9 + 3 * i], 'EX', ARGV[10 + 3 * i]) end
end
for i = 0, np - 1 do
  if generationBefore[i] == ARGV[pageArgs + 3 + 3 * i] then redis.call('SET', KEYS[pageAt + 2 * i], ARGV[pageArgs + 1 + 3 * i], 'EX', ARGV[pageArgs + 2 + 3 * i]) end
end
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
if ARGV[7] == '1' then return redis.call('GET', KEYS[#KEYS]) end
return false`;

/**
 * A loaders' lookup (CacheStore.lookup): MGET of the n keys, then, for each key found absent, what
 * its read asks — take its lease (SET NX PX), or create it at an initial value (a generation
 * counter) — in one atomic script, so "absent" and "lease free" are seen at the same instant.
 * KEYS: the n keys, then the lease key of each read with a lease, in order. ARGV: n, lease ttl ms,
 * then per key a mode ('l' lease, 'i' initial, '' none) and its argument (token, value, ''). Returns
 * {values, leases}: per key 1 lease acquired, 0 held by another, 2 skipped (none asked, or a value
 * is there).
 */
const LOOKUP_SCRIPT = `${MGET_ALL_LUA}
local n = tonumber(ARGV[1])
local values = mgetAll(KEYS, n)
local leases = {}
local nextLease = n
for i = 1, n do
  local mode, arg = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  leases[i] = 2
  if mode == 'l' then
    nextLease = nextLease + 1
    if not values[i] then
      if redis.call('SET', KEYS[nextLease], arg, 'PX', ARGV[2], 'NX') then leases[i] = 1 else leases[i] = 0 end
    end
  elseif mode == 'i' and not values[i] then
    redis.call('SET', KEYS[i], arg)
    values[i] = arg
  end
end
return {values, leases}`;

const LEASE_RESULTS = ['held', 'acquired', 'skipped'] as const;

/** Releases a lease only if the token still holds it. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** The scripts a request's operations run, on whichever connection carries them (createRedisCommands' FastRoute). */
const FAST_SCRIPTS = {
  cacheFillMany: luaScript(FILL_SCRIPT), cacheRelease: luaScript(RELEASE_SCRIPT),
  cacheInvalidate: luaScript(INVALIDATE_SCRIPT), cacheLookup: luaScript(LOOKUP_SCRIPT),
} as const;

/**
 * CacheStore on an ioredis connection — and on a single Redis, for lookups, fills, leases and
 * invalidations, on the fast connection while it is ready (fast-connection.ts; the same commands
 * and scripts, so the same atomicity: each operation goes all over one connection). Each method
 * is one round trip (a single command, a script or one pipeline); on a cluster `invalidate` takes
 * two, as it needs the clock's new value before it can write tombstones in other slots. A `lookup` is reported as a `getMany` round trip (it is the
 * loaders' read, with or without leases).
 * On a Redis Cluster, "one round trip" is one per node, concurrently (see redis-commands.ts); the
 * observer still hears of one round trip per logical operation. Every script names keys of one
 * slot only (the keyspace's hash tags), so it runs unchanged on a cluster.
 */
export function createRedisStore(
  redis: RedisClient,
  observer: StoreObserver = {},
  breaker: CircuitBreaker<[() => Promise<unknown>], unknown> = createRedisBreaker(),
  /** A single Redis's second connection (fast-connection.ts): while it is ready, the hot operations take it. */
  fast: FastConnection | null = null,
): CacheStore {
  // FAST_SCRIPTS are defined on ioredis by createRedisCommands (below); these run there only.
  redis.defineCommand('cacheFill', { numberOfKeys: 3, lua: FILL_SCRIPT });
  redis.defineCommand('cacheRaise', { numberOfKeys: 1, lua: RAISE_SCRIPT });
  redis.defineCommand('cacheTombstone', { numberOfKeys: 1, lua: TOMBSTONE_SCRIPT });
  redis.defineCommand('cacheClock', { numberOfKeys: 1, lua: CLOCK_SCRIPT });

  /**
   * Reads and fills go through the circuit breaker; invalidations and counters do not: refusing
   * them while the circuit is open would turn a slow Redis into lost invalidations (and epoch bumps).
   */
  const GUARDED: ReadonlySet<StoreOperation> = new Set(['getMany', 'setMany', 'acquire']); // getMany: lookups too

  const timed = <T>(operation: StoreOperation, commands: number, run: () => Promise<T>): Promise<T> =>
    timedRoundTrip(observer, operation, commands, run, GUARDED.has(operation) ? breaker : undefined);

  const commands = createRedisCommands(redis, { connection: fast, scripts: FAST_SCRIPTS });

  /** Runs commands as one pipeline (one round trip); rejects if any command failed. */
  async function execPipeline(operation: StoreOperation, build: (p: RedisCommand[]) => void): Promise<unknown[]> {
    const batch: RedisCommand[] = [];
    build(batch);
    if (batch.length === 0) return [];
    return timed(operation, batch.length, () => commands.batch(batch));
  }

  async function getMany(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    try {
      return await timed('getMany', 1, () => commands.mget(keys));
    } catch {
      return keys.map(() => null);
    }
  }

  return {
    getMany,

    async lookup(reads) {
      const keys = reads.map((r) => r.key);
      // A cluster cannot run one script over keys of many slots: it reads, and leaves the leases
      // and counters to `acquire` (each lease shares its value's slot, so acquire pipelines them per node).
      if (redis.isCluster || !reads.some((r) => r.lease || r.initial !== undefined)) {
        return { values: await getMany(keys), leases: reads.map(() => 'skipped' as const) };
      }
      try {
        const leaseKeys = reads.flatMap((r) => (r.lease ? [r.lease.key] : []));
        const ttlMs = Math.max(0, ...reads.map((r) => r.lease?.ttlMs ?? 0)); // one TTL for all: the longest asked
        const modes = reads.flatMap((r) => (r.lease ? ['l', r.lease.token] : r.initial !== undefined ? ['i', r.initial] : ['', '']));
        const [values, flags] = await timed('getMany', 1, () => commands.run({ name: 'cacheLookup', keys: [...keys, ...leaseKeys], args: [keys.length, ttlMs, ...modes] })) as [(string | null)[], number[]];
        return { values: keys.map((_, i) => values[i] ?? null), leases: keys.map((_, i) => LEASE_RESULTS[flags[i] ?? 2] ?? 'skipped') };
      } catch {
        return bypassedLookup(reads);
      }
    },

    async setMany(entries: readonly CacheEntry[], releases = []) {
      try {
        await execPipeline('setMany', (p) => {
          for (const { key, token } of releases) p.push({ name: 'cacheRelease', keys: [key], args: [token] });
          // On a single Redis the versioned fills of a batch (a page's rows, say) are one script call.
          const many: { keys: string[]; args: (string | number)[] } | null = redis.isCluster ? null : { keys: [], args: [] };
          for (const { key, value, ttlSeconds, guard, lease } of entries) {
            if (ttlSeconds <= 0) continue;
            if (guard || lease) {
              const tombstone = guard?.tombstoneKey ?? lease!.key; // an unread stand-in when unguarded
              const keys = [key, tombstone, lease?.key ?? key];
              const args = [value, ttlSeconds, guard?.readClock ?? -1, lease?.token ?? ''];
              if (many) {
                many.keys.push(...keys);
                many.args.push(...args);
              } else {
                p.push({ name: 'cacheFill', keys, args });
              }
            } else {
              p.push({ name: 'set', keys: [key], args: [value, 'EX', ttlSeconds] });
            }
          }
          // One script for the whole batch: a single Redis only (its keys span slots).
          if (many && many.keys.length > 0) p.push({ name: 'cacheFillMany', keys: many.keys, args: many.args });
        });
      } catch {
        // A dropped fill costs one later miss, never a failed request.
      }
    },

    async acquire(leases, generations) {
      try {
        const results = await execPipeline('acquire', (p) => {
          // A lease and its value share a slot: on a cluster, too, the GET runs after the SET NX.
          for (const { key, token, ttlMs, valueKey } of leases) {
            p.push({ name: 'set', keys: [key], args: [token, 'PX', ttlMs, 'NX'] }, { name: 'get', keys: [valueKey] });
          }
          for (const { key, initial } of generations) p.push({ name: 'set', keys: [key], args: [initial, 'NX'] }, { name: 'get', keys: [key] });
        });
        const base = leases.length * 2;
        return {
          acquired: leases.map((_, i) => results[i * 2] === 'OK'),
          values: leases.map((_, i) => (results[i * 2 + 1] as string | null) ?? null),
          generations: generations.map((_, i) => (results[base + i * 2 + 1] as string | null) ?? null),
        };
      } catch {
        return { acquired: leases.map(() => false), values: leases.map(() => null), generations: generations.map(() => null) };
      }
    },

    async invalidate({ entities, generationKeys, rangeTombstoneKeys = [], pageFills = [], clockKey, tombstoneTtlMs, epochKey, announce }) {
      const announced = announce ? announcedKeys({ entities, generationKeys, rangeTombstoneKeys, pageFills }) : [];
      if (!redis.isCluster) {
        const tombstoneKeys = [...entities.map((e) => e.tombstoneKey), ...rangeTombstoneKeys];
        const deleted = entities.flatMap((e) => [e.key, e.leaseKey]);
        const fills = entities.filter((e) => e.fill && e.fill.ttlSeconds >= 1); // EX takes whole seconds ≥ 1
        // A page fill's generation must be one this script bumps (else nothing could refuse it).
        const pages = pageFills.filter((f) => f.ttlSeconds >= 1 && generationKeys.includes(f.generationKey));
        const keys = [clockKey, ...tombstoneKeys, ...deleted, ...generationKeys, ...fills.flatMap((e) => [e.key, e.tombstoneKey]),
          ...pages.flatMap((f) => [f.key, f.generationKey]), ...(epochKey ? [epochKey] : [])];
        const fillArgs = fills.flatMap(({ fill }) => [fill!.value, Math.floor(fill!.ttlSeconds), fill!.guardClock]);
        const pageArgs = pages.flatMap((f) => [f.value, Math.floor(f.ttlSeconds), f.expectedGeneration]);
        const epoch = await timed('invalidate', 1, () => commands.run({ name: 'cacheInvalidate', keys, args: [tombstoneTtlMs, tombstoneKeys.length,
          deleted.length, generationKeys.length, announced.length > 0 ? announce! : '', announced.join(' '), epochKey ? '1' : '0', fills.length, ...fillArgs,
          pages.length, ...pageArgs] })) as string | null;
        const value = epochKey ? Number(epoch ?? 0) : null;
        return { epoch: value !== null && Number.isSafeInteger(value) ? value : null };
      }
      // A cluster: the clock and the tombstones live in other slots, so two round trips. Tombstones
      // carry the clock *after* this increment, so a filler that read the clock before it (and so may
      // hold pre-commit data) is refused; one that read it after read committed data.
      const tombstones = entities.length + rangeTombstoneKeys.length;
      const nextClock = (redis as unknown as { cacheClock(key: string): Promise<number | string> }).cacheClock;
      const clock = tombstones > 0 ? Number(await timed('invalidate', 1, () => nextClock.call(redis, clockKey))) : 0;
      const results = await execPipeline('invalidate', (p) => {
        for (const { tombstoneKey } of entities) p.push({ name: 'cacheTombstone', keys: [tombstoneKey], args: [clock, tombstoneTtlMs] });
        for (const key of rangeTombstoneKeys) p.push({ name: 'cacheTombstone', keys: [key], args: [clock, tombstoneTtlMs] });
        // After the tombstones: a fill racing this pipeline is either refused or deleted here. (On
        // a cluster the DEL is split per slot; each entity's tombstone shares its slot and so still
        // runs first, on the same connection.)
        if (entities.length > 0) p.push({ name: 'del', keys: entities.flatMap((e) => [e.key, e.leaseKey]) });
        for (const key of generationKeys) p.push({ name: 'incr', keys: [key] });
        // After the DEL and INCRs: a subscriber that drops its copy and reads again reads past them.
        // (A keyless command: on a cluster it is sent once every slot's part has run.)
        if (announced.length > 0) p.push({ name: 'publish', keys: [], args: [announce!, announced.join(' ')] });
        if (epochKey) p.push({ name: 'get', keys: [epochKey] }); // last: its answer is read from the end
      });
      const epoch = epochKey ? Number(results.at(-1) ?? 0) : null;
      return { epoch: Number.isSafeInteger(epoch) ? epoch : null };
    },

    increment: (key) => timed('increment', 1, () => redis.incr(key)),

    async raiseCounter(key, floor) {
      try {
        const raise = (redis as unknown as { cacheRaise(key: string, floor: number): Promise<number> }).cacheRaise;
        return Number(await timed('raiseCounter', 1, () => raise.call(redis, key, floor)));
      } catch {
        return null;
      }
    },
  };
}
