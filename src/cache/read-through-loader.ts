import { setTimeout as sleep } from 'node:timers/promises';
import DataLoader from 'dataloader';
import type { CacheEntry, CacheStore } from './cache-store.ts';
import type { DependencyRecorder } from './dependencies.ts';
import type { FillQueue } from './fill-queue.ts';
import { nextLeaseToken, type KeyReader, type KeyReadResult } from './key-reader.ts';
import { CHECKED_MAX_TTL_SECONDS, MAX_FILL_AGE_MS } from './lifetimes.ts';

/** Where one loader key lives in the cache. */
export interface CacheLocation {
  readonly cacheKey: string;
  /**
   * The generation counter this value depends on (list pages). The value is stored with the
   * generation read before the database was queried and served only while that generation is
   * current: a writer that commits and then bumps it makes every earlier fill unreadable.
   */
  readonly generationKey?: string;
  /** The entity's tombstone: makes the fill versioned (see CacheEntry.guard). */
  readonly tombstoneKey?: string;
  /** A lease key: concurrent misses on this key, in any process, fill it once. */
  readonly leaseKey?: string;
}

/** The cache keys of one batch's lookup: served from the cache, and not. */
export interface LookupKeys {
  readonly hit: readonly string[];
  readonly missed: readonly string[];
}

export interface LoaderObserver {
  /** `keys` names what the counts count, for per-request traces (metrics need only the counts). */
  lookup?(name: string, hits: number, misses: number, keys: LookupKeys): void;
  /** `keys`: every key written by the fill, side fills included. */
  fill?(name: string, written: number, keys: readonly string[]): void;
  /** Misses that waited for another filler: `served` found the value, the rest read the database. */
  waited?(name: string, served: number, timedOut: number): void;
}

/** The race protections, on by default; tests switch them off to show they matter. */
export interface FillProtection {
  readonly versionedFills?: boolean;
  readonly leases?: boolean;
  readonly leaseTtlMs?: number;
  /**
   * How long a miss waits at most for another process's fill before reading the database itself.
   * It stops waiting earlier when the lease disappears (released, invalidated or expired).
   */
  readonly leaseWaitMs?: number;
  readonly pollMs?: number;
}

/** An entry a fetch asks to fill besides its own keys (e.g. the rows of a page, as entities). */
export interface SideFill {
  readonly key: string;
  readonly value: unknown;
  readonly ttlSeconds: number;
  readonly tombstoneKey?: string;
}

export interface ReadThroughOptions<K, V> {
  /** Name used in metrics and traces (e.g. the entity type). */
  readonly name: string;
  readonly reader: KeyReader;
  readonly store: CacheStore;
  readonly locate: (key: K) => CacheLocation;
  /** The invalidation clock's key, read with every batch's lookup (it changes with the epoch). */
  readonly clockKey: () => string;
  /**
   * Loads the missing keys from the source of truth, answering in the same order (null: does not
   * exist, not cached). It may add side fills, written in the same pipeline and versioned by the
   * same clock reading. `generationOf` tells the generation a key's value will be stored under
   * (read before the database is queried; null when it has none or it is unknown).
   */
  readonly fetch: (misses: readonly K[], sideFill: (entry: SideFill) => void, generationOf: (key: K) => string | null) => Promise<readonly (V | null)[]>;
  /** Time to live of filled entries, in seconds (0: never stored); per key or for all. */
  readonly ttlSeconds: number | ((key: K) => number);
  /** Memo key for object-valued loader keys (DataLoader's cacheKeyFn). */
  readonly memoKey?: (key: K) => string;
  readonly observer?: LoaderObserver;
  readonly protection?: FillProtection;
  /** Told what every batch read (clock, entities, generations): the request's whole-response cache entry depends on it. */
  readonly recorder?: DependencyRecorder;
  /** Test seam: runs after the database read and before the fill (to force interleavings). */
  readonly beforeFill?: (name: string, keys: readonly K[]) => Promise<void>;
  /**
   * Range dependencies of a value (a page of a range-bucketed list, see range-buckets.ts): the
   * tombstones of the buckets it covers, or null when the key has none. A value that has them is
   * stored with the clock read before it was built, and served only while none of them is newer
   * (checked in one more round trip, for all such hits of a batch at once).
   */
  readonly rangesOf?: (key: K, value: V) => readonly string[] | null;
  /**
   * Fills (and lease releases) are queued here when it is given, not sent: the request sends all of
   * its loaders' writes in one round trip before it answers (fill-queue.ts), and the batch resolves
   * without waiting for them. Without it, each batch sends its own and waits.
   */
  readonly fills?: FillQueue;
}

/** A stored value: `g` the generation it was built under, `c` the clock read before it was built. */
export type Envelope<V> = { v: V; g?: string; c?: number };

/** A value as the loaders store it (what a writer fills must read back the same, see Evictions.fill). */
export function encodeValue<V>(value: V, generation?: string): string {
  return JSON.stringify(generation === undefined ? { v: value } : { v: value, g: generation });
}

/** A value found in the store that its generation allows, and the range tombstones still to check. */
interface Candidate<V> {
  readonly value: V;
  readonly clock: number | undefined;
  readonly ranges: readonly string[] | null;
  /** Read again with the range tombstones, to tell a failed read from absent tombstones. */
  readonly generationKey: string;
}

/**
 * A per-request DataLoader that reads through the cache: one lookup round trip for all keys of a
 * batch (shared with sibling loaders through the KeyReader), one source query for the misses, one
 * pipelined write-back. The DataLoader memo stays on, so a request sees one value per key.
 *
 * Races (DESIGN.md): fills are versioned — the batch reads the invalidation clock with its lookup,
 * and a fill is refused when the entity was invalidated after that; pages carry their generation.
 * Misses take a lease, so concurrent misses on one key in all processes fill it once: the others
 * poll briefly for the value and read the database themselves only if it does not come. The lease
 * is taken in the lookup's own round trip (CacheStore.lookup: atomically with reading the key), and
 * in a second one only where the lookup could not (a value that was there but is not servable, a
 * cluster).
 */
export function createReadThroughLoader<K, V>(options: ReadThroughOptions<K, V>): DataLoader<K, V | null, string> {
  const { name, reader, store, locate, fetch, ttlSeconds, observer } = options;
  if (typeof ttlSeconds === 'number' && !(Number.isInteger(ttlSeconds) && ttlSeconds >= 0)) {
    throw new TypeError(`createReadThroughLoader(${name}): ttlSeconds must be a non-negative integer, got ${ttlSeconds}`);
  }
  const ttlOf = typeof ttlSeconds === 'number' ? () => ttlSeconds : ttlSeconds;
  const protection = {
    versionedFills: true, leases: true, leaseTtlMs: 2000, leaseWaitMs: 2000, pollMs: 10, ...options.protection,
  };

  /** Fills and releases: queued for the request (options.fills), or sent and waited for. */
  const write = async (entries: readonly CacheEntry[], releases: readonly { key: string; token: string }[], written?: () => void): Promise<void> => {
    if (options.fills) return options.fills.add(entries, releases, written);
    await store.setMany(entries, releases);
    written?.();
  };

  async function batch(keys: readonly K[]): Promise<(V | null)[]> {
    const locations = keys.map(locate);
    const clockKey = options.clockKey();
    const generationKeys = [...new Set(locations.flatMap((l) => (l.generationKey ? [l.generationKey] : [])))];
    const { recorder } = options;
    // With a recorder, each entity's tombstone is read with its value (see Dependencies.observed).
    const observedKeys = recorder ? locations.flatMap((l) => (l.tombstoneKey ? [l.tombstoneKey] : [])) : [];
    // Each value is read with its lease: a miss takes it in the same round trip (CacheStore.lookup).
    const leases = locations.map((l) => (protection.leases && l.leaseKey ? { key: l.leaseKey, ttlMs: protection.leaseTtlMs } : undefined));
    // A generation never seen starts at a random point, so a lost counter cannot come back at a
    // value an old page was stored under.
    const lookups = await reader.loadMany([
      { key: clockKey }, ...generationKeys.map((key) => ({ key, initial: String(randomStart()) })),
      ...locations.map((l, i) => ({ key: l.cacheKey, lease: leases[i] })), ...observedKeys.map((key) => ({ key })),
    ]);
    const readAt = performance.now();
    const read = (i: number): KeyReadResult => {
      const found = lookups[i];
      return found === undefined || found instanceof Error ? { value: null } : found;
    };
    const readClock = Number(read(0).value ?? 0);
    const generations = new Map(generationKeys.map((key, i) => [key, read(1 + i).value]));
    const offset = 1 + generationKeys.length;
    recorder?.clock(readClock, readAt);
    const observedAt = offset + locations.length;
    observedKeys.forEach((key, i) => recorder!.observed(key, read(observedAt + i).value));
    for (const l of locations) recorder?.read(l.cacheKey);

    const results: (V | null)[] = new Array(keys.length).fill(null);
    const misses: number[] = [];
    const served = await settle(keys.map((_, i) => read(offset + i).value), keys.map((_, i) => i));
    served.forEach((value, i) => {
      if (value !== undefined) results[i] = value;
      else misses.push(i);
    });
    if (observer?.lookup) {
      const missedAt = new Set(misses);
      const hit = locations.flatMap((l, i) => (missedAt.has(i) ? [] : [l.cacheKey]));
      observer.lookup(name, keys.length - misses.length, misses.length, { hit, missed: misses.map((i) => locations[i]!.cacheKey) });
    }
    // The generations the pages were served or filled under (waiting may move some on).
    const recordGenerations = () => { for (const key of generationKeys) recorder?.generation(key, generations.get(key) ?? null); };
    if (misses.length === 0) {
      recordGenerations();
      return results;
    }

    // Misses this batch loads itself: those without a lease to take (none, or a rebuild's snapshot
    // told them absent: see createKeyReader), plus those whose lease it got (in the lookup, or
    // below); `contended`: another filler holds the lease.
    const tokens = new Map<number, string>();
    const owned: number[] = [];
    const contended: number[] = [];
    // Misses whose lease the lookup did not try (a value was there but not servable, a cluster),
    // and generations it could not create (a cluster): one more round trip takes them.
    const leased: number[] = [];
    for (const i of misses) {
      const { lease, token, fromSnapshot } = read(offset + i);
      if (!leases[i] || fromSnapshot) owned.push(i); // see createKeyReader on snapshots
      else if (lease === 'acquired' && token) {
        tokens.set(i, token);
        owned.push(i);
      } else if (lease === 'held') contended.push(i);
      else leased.push(i);
    }
    const unborn = generationKeys.filter((key) => generations.get(key) === null);
    const lateReleases: { key: string; token: string }[] = [];
    if (leased.length > 0 || unborn.length > 0) {
      const token = nextLeaseToken();
      const granted = await store.acquire(
        leased.map((i) => ({ key: locations[i]!.leaseKey!, token: `${token}.${i}`, ttlMs: protection.leaseTtlMs, valueKey: locations[i]!.cacheKey })),
        unborn.map((key) => ({ key, initial: String(randomStart()) })),
      );
      unborn.forEach((key, j) => generations.set(key, granted.generations[j] ?? null));
      // A filler may have finished (and released its lease) since the lookup: use its value.
      const finished = await settle(granted.values, leased);
      leased.forEach((i, j) => {
        const value = finished[j];
        if (value !== undefined) {
          results[i] = value;
          if (granted.acquired[j]) lateReleases.push({ key: locations[i]!.leaseKey!, token: `${token}.${i}` });
        } else if (granted.acquired[j]) {
          tokens.set(i, `${token}.${i}`);
          owned.push(i);
        } else {
          contended.push(i);
        }
      });
      if (lateReleases.length > 0) await write([], lateReleases);
    }

    const [, leftover] = await Promise.all([load(owned), waitForOthers(contended)]);
    await load(leftover);
    recordGenerations();
    return results;

    async function load(indexes: readonly number[]): Promise<void> {
      if (indexes.length === 0) return;
      const fills: CacheEntry[] = [];
      const releases: { key: string; token: string }[] = [];
      const guardOf = (tombstoneKey: string | undefined) =>
        protection.versionedFills && tombstoneKey ? { tombstoneKey, readClock } : undefined;
      // The generation each missed key's value will be stored under (null: none, or unknown).
      const generationOf = (key: K) => {
        const generationKey = locate(key).generationKey;
        return generationKey ? generations.get(generationKey) ?? null : null;
      };
      const loaded = await fetch(indexes.map((i) => keys[i]!), (side) => {
        // A side-filled value is served to this request too (primed): the answer depends on it.
        if (side.tombstoneKey) options.recorder?.entity(side.tombstoneKey);
        fills.push({ key: side.key, value: encodeValue(side.value), ttlSeconds: side.ttlSeconds, guard: guardOf(side.tombstoneKey) });
      }, generationOf);
      indexes.forEach((keyIndex, j) => {
        const value = loaded[j] ?? null;
        results[keyIndex] = value;
        const { cacheKey, generationKey, tombstoneKey, leaseKey } = locations[keyIndex]!;
        const token = tokens.get(keyIndex);
        if (value === null) {
          // Not cached: absence is not a value (and unknown ids must leave nothing behind).
          if (token && leaseKey) releases.push({ key: leaseKey, token });
          return;
        }
        const g = generationKey ? generations.get(generationKey) : undefined;
        if (g === null) return; // the generation could not be established: do not guess one
        const ranges = options.rangesOf?.(keys[keyIndex]!, value) ?? null;
        // Read from the database after the clock reading: current while no bucket is newer.
        for (const key of ranges ?? []) options.recorder?.entity(key);
        const envelope: Envelope<V> = { v: value };
        if (g !== undefined) envelope.g = g;
        if (ranges) envelope.c = readClock;
        fills.push({
          key: cacheKey,
          value: JSON.stringify(envelope),
          // Range tombstones expire: nothing they must prove stale may outlive them.
          ttlSeconds: ranges ? Math.min(ttlOf(keys[keyIndex]!), CHECKED_MAX_TTL_SECONDS) : ttlOf(keys[keyIndex]!),
          guard: guardOf(tombstoneKey),
          lease: token && leaseKey ? { key: leaseKey, token } : undefined,
        });
      });
      await options.beforeFill?.(name, indexes.map((i) => keys[i]!));
      // A read this old may predate an invalidation whose tombstone has expired; a read from
      // before an epoch bump was versioned by the old epoch's clock: neither may fill.
      const fresh = performance.now() - readAt < MAX_FILL_AGE_MS && options.clockKey() === clockKey;
      // Not fresh: nothing is written, but the leases the fills were made under are still given back
      // (else every waiter on those keys would poll until they expire).
      if (!fresh) for (const fill of fills) if (fill.lease) releases.push(fill.lease);
      if ((fills.length > 0 && fresh) || releases.length > 0) {
        await write(fresh ? fills : [], releases, fresh ? () => observer?.fill?.(name, fills.length, fills.map((f) => f.key)) : undefined);
      }
    }

    /** Polls for values another filler is loading; returns the misses it did not deliver in time. */
    async function waitForOthers(indexes: readonly number[]): Promise<number[]> {
      let pending = [...indexes];
      const gaveUp: number[] = [];
      const deadline = performance.now() + protection.leaseWaitMs;
      while (pending.length > 0 && performance.now() < deadline) {
        // Never wait holding leases whose fills are still queued (this batch's own load, running
        // alongside, or the request's earlier batches): another request may be waiting for them.
        await Promise.all([sleep(protection.pollMs), options.fills?.flush()]);
        const pendingGenerations = [...new Set(pending.flatMap((i) => locations[i]!.generationKey ?? []))];
        const values = await store.getMany([
          ...pendingGenerations, ...pending.map((i) => locations[i]!.cacheKey), ...pending.map((i) => locations[i]!.leaseKey!),
        ]);
        pendingGenerations.forEach((key, j) => generations.set(key, values[j] ?? generations.get(key) ?? null));
        const leaseAt = pendingGenerations.length + pending.length;
        const stillHeld: number[] = [];
        const delivered = await settle(pending.map((_, j) => values[pendingGenerations.length + j] ?? null), pending);
        pending.forEach((keyIndex, j) => {
          const value = delivered[j];
          if (value !== undefined) results[keyIndex] = value;
          else if (values[leaseAt + j] === null) gaveUp.push(keyIndex); // no filler any more: read it ourselves
          else stillHeld.push(keyIndex);
        });
        pending = stillHeld;
      }
      const leftover = [...gaveUp, ...pending];
      observer?.waited?.(name, indexes.length - leftover.length, leftover.length);
      return leftover;
    }

    /**
     * The values among `raws` (stored entries of the keys at `indexes`) that may be served, or
     * undefined: current generation, and for values with range dependencies, no bucket tombstone
     * newer than the clock the value was built under — all read in one round trip, and recorded
     * as observed (like an entity's tombstone read with its value).
     */
    async function settle(raws: readonly (string | null)[], indexes: readonly number[]): Promise<(V | undefined)[]> {
      const candidates = raws.map((raw, j) => candidate(raw, indexes[j]!));
      const rangeKeys = [...new Set(candidates.flatMap((c) => c?.ranges ?? []))];
      if (rangeKeys.length === 0) return candidates.map((c) => c?.value);
      // The generations are read again with the tombstones: a store that failed answers null for
      // everything, which must read as "cannot tell", not as "no tombstone" (and a generation that
      // moved meanwhile makes the value old anyway). Through the request's reader, like the values:
      // other loaders' reads of this tick share the round trip, and a rebuild's snapshot answers
      // them. That holds for a value polled after the snapshot too (waitForOthers): the snapshot
      // was read after the request began, so it holds every write acknowledged before then; a
      // tombstone it lacks belongs to a write made during the request, which the answer may predate.
      const generationKeys = [...new Set(candidates.flatMap((c) => (c?.ranges ? [c.generationKey] : [])))];
      const read = (await reader.loadMany([...generationKeys, ...rangeKeys].map((key) => ({ key }))))
        .map((result) => (result instanceof Error ? null : result.value));
      const confirmed = new Set(generationKeys.filter((key, i) => read[i] !== null && read[i] === generations.get(key)));
      const tombstones = new Map(rangeKeys.map((key, i) => [key, read[generationKeys.length + i] ?? null]));
      return candidates.map((c) => {
        if (!c) return undefined;
        if (!c.ranges) return c.value;
        const current = confirmed.has(c.generationKey) && c.ranges.every((key) => Number(tombstones.get(key) ?? 0) <= c.clock!);
        if (!current) return undefined;
        for (const key of c.ranges) options.recorder?.observed(key, tombstones.get(key) ?? null);
        return c.value;
      });
    }

    function candidate(raw: string | null, keyIndex: number): Candidate<V> | undefined {
      const location = locations[keyIndex]!;
      const envelope = servable<V>(raw, location, generations);
      if (!envelope) return undefined;
      const ranges = options.rangesOf?.(keys[keyIndex]!, envelope.v) ?? null;
      // A value that needs range checks but was stored without its clock, or that has no
      // generation to confirm the check by, cannot be checked.
      if (ranges && (typeof envelope.c !== 'number' || !location.generationKey)) return undefined;
      return { value: envelope.v, clock: envelope.c, ranges, generationKey: location.generationKey ?? '' };
    }
  }

  return new DataLoader<K, V | null, string>(batch, { cacheKeyFn: options.memoKey ?? ((k) => String(k)) });
}

/** The stored entry if its generation allows it (pages: only their current one), else undefined. */
function servable<V>(raw: string | null, location: CacheLocation, generations: Map<string, string | null>): Envelope<V> | undefined {
  const envelope = decode<V>(raw);
  if (!envelope) return undefined;
  if (location.generationKey) {
    const current = generations.get(location.generationKey);
    if (current === null || current === undefined || envelope.g !== current) return undefined;
  }
  return envelope;
}

/**
 * Generations start at a random point in a 2^48 range, never at a value a lost counter had (a
 * collision needs the same draw; nothing here needs secrecy, so no call into the OS's generator:
 * every lookup of a page draws one).
 */
function randomStart(): number {
  return Math.floor(Math.random() * 2 ** 48);
}

/** A stored value, or null for an absent or corrupt one. */
export function decode<V>(raw: string | null): Envelope<V> | null {
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Envelope<V>;
    return parsed && typeof parsed === 'object' && 'v' in parsed ? parsed : null;
  } catch {
    return null; // a corrupt entry is a miss, and the fill overwrites it
  }
}
