import type { ChainableCommander, Redis } from 'ioredis';
import type { CacheEntry, CacheStore } from './cache-store.ts';
import type CircuitBreaker from 'opossum';
import { createRedisBreaker } from './redis-breaker.ts';
import type { StoreObserver, StoreOperation } from './store-observer.ts';

/**
 * Writes a value unless its entity was invalidated after the filler read the clock (KEYS[2], the
 * tombstone, holds the clock of the last invalidation), then releases the filler's lease if it is
 * still the holder. ARGV: value, ttl seconds, read clock (-1: unguarded), lease token ('' : none).
 */
const FILL_SCRIPT = `
local readClock = tonumber(ARGV[3])
if readClock >= 0 then
  local tombstone = redis.call('GET', KEYS[2])
  if tombstone and tonumber(tombstone) > readClock then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
return 1`;

/** Raises a counter to at least ARGV[1]; returns its value. */
const RAISE_SCRIPT = `local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if v < floor then redis.call('SET', KEYS[1], floor) return floor end
return v`;

/**
 * Writes a tombstone only upwards: two overlapping invalidations of one entity may land in either
 * order, and a tombstone that went back to the older clock would let a stale fill through.
 * ARGV: clock, ttl ms.
 */
const TOMBSTONE_SCRIPT = `local t = tonumber(redis.call('GET', KEYS[1]) or '-1')
if t < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`;

/** Releases a lease only if the token still holds it. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

type FillCommander = ChainableCommander & {
  cacheFill(value: string, tombstone: string, lease: string, ...args: (string | number)[]): ChainableCommander;
  cacheRelease(lease: string, token: string): ChainableCommander;
  cacheTombstone(tombstone: string, clock: number, ttlMs: number): ChainableCommander;
};

/**
 * CacheStore on one ioredis connection. Each method is one round trip (a single command or one
 * pipeline) except `invalidate`, which needs the clock's new value before it can write tombstones.
 */
export function createRedisStore(
  redis: Redis,
  observer: StoreObserver = {},
  breaker: CircuitBreaker<[() => Promise<unknown>], unknown> = createRedisBreaker(),
): CacheStore {
  redis.defineCommand('cacheFill', { numberOfKeys: 3, lua: FILL_SCRIPT });
  redis.defineCommand('cacheRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
  redis.defineCommand('cacheRaise', { numberOfKeys: 1, lua: RAISE_SCRIPT });
  redis.defineCommand('cacheTombstone', { numberOfKeys: 1, lua: TOMBSTONE_SCRIPT });

  /**
   * Reads and fills go through the circuit breaker; invalidations and counters do not: refusing
   * them while the circuit is open would turn a slow Redis into lost invalidations (and epoch bumps).
   */
  const GUARDED: ReadonlySet<StoreOperation> = new Set(['getMany', 'setMany', 'acquire']);

  async function timed<T>(operation: StoreOperation, commands: number, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let sent = true;
    try {
      return (GUARDED.has(operation) ? await breaker.fire(run) : await run()) as T;
    } catch (error) {
      sent = (error as { code?: string }).code !== 'EOPENBREAKER'; // open circuit: nothing was sent
      observer.failure?.(operation, error);
      throw error;
    } finally {
      if (sent) observer.roundTrip?.(operation, commands, performance.now() - started);
    }
  }

  /** Runs a pipeline as one round trip; rejects if any command failed. */
  async function execPipeline(operation: StoreOperation, build: (p: FillCommander) => number): Promise<unknown[]> {
    const pipeline = redis.pipeline() as FillCommander;
    const commands = build(pipeline);
    if (commands === 0) return [];
    return timed(operation, commands, async () => {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0];
      return results.map(([, value]) => value);
    });
  }

  return {
    async getMany(keys) {
      if (keys.length === 0) return [];
      try {
        return await timed('getMany', 1, () => redis.mget(...keys));
      } catch {
        return keys.map(() => null);
      }
    },

    async setMany(entries: readonly CacheEntry[], releases = []) {
      try {
        await execPipeline('setMany', (p) => {
          for (const { key, token } of releases) p.cacheRelease(key, token);
          let n = releases.length;
          for (const { key, value, ttlSeconds, guard, lease } of entries) {
            if (ttlSeconds <= 0) continue;
            if (guard || lease) {
              const tombstone = guard?.tombstoneKey ?? lease!.key; // an unread stand-in when unguarded
              p.cacheFill(key, tombstone, lease?.key ?? key, value, ttlSeconds, guard?.readClock ?? -1, lease?.token ?? '');
            } else {
              p.set(key, value, 'EX', ttlSeconds);
            }
            n++;
          }
          return n;
        });
      } catch {
        // A dropped fill costs one later miss, never a failed request.
      }
    },

    async acquire(leases, generations) {
      try {
        const results = await execPipeline('acquire', (p) => {
          for (const { key, token, ttlMs, valueKey } of leases) p.set(key, token, 'PX', ttlMs, 'NX').get(valueKey);
          for (const { key, initial } of generations) p.set(key, initial, 'NX').get(key);
          return (leases.length + generations.length) * 2;
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

    async invalidate({ entities, generationKeys, clockKey, tombstoneTtlMs, epochKey, announce }) {
      // Tombstones carry the clock *after* this INCR, so a filler that read the clock before it
      // (and so may hold pre-commit data) is refused; one that read it after read committed data.
      const clock = entities.length > 0 ? await timed('invalidate', 1, () => redis.incr(clockKey)) : 0;
      const results = await execPipeline('invalidate', (p) => {
        for (const { tombstoneKey } of entities) p.cacheTombstone(tombstoneKey, clock, tombstoneTtlMs);
        // After the tombstones: a fill racing this pipeline is either refused or deleted here.
        if (entities.length > 0) p.del(...entities.flatMap((e) => [e.key, e.leaseKey]));
        for (const key of generationKeys) p.incr(key);
        // After the DEL and INCRs: a subscriber that drops its copy and reads again reads past them.
        const announced = announce ? [...entities.map((e) => e.key), ...generationKeys] : [];
        if (announced.length > 0) p.publish(announce!, announced.join(' '));
        if (epochKey) p.get(epochKey); // last: its answer is read from the end
        return entities.length + (entities.length > 0 ? 1 : 0) + generationKeys.length + (announced.length > 0 ? 1 : 0) + (epochKey ? 1 : 0);
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
