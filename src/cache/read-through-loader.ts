import DataLoader from 'dataloader';
import type { CacheEntry, CacheStore } from './cache-store.ts';
import type { KeyReader } from './key-reader.ts';

/** Where one loader key lives in the cache. */
export interface CacheLocation {
  readonly cacheKey: string;
  /**
   * The generation counter this value depends on (for list pages). The value is stored together
   * with the generation read before the database was queried; it is served only while that
   * generation is still current. A writer that commits and then bumps the generation therefore
   * makes every fill that started before the bump unreadable — no stale fill for pages.
   */
  readonly generationKey?: string;
}

export interface LoaderObserver {
  lookup?(name: string, hits: number, misses: number): void;
  fill?(name: string, written: number): void;
}

export interface ReadThroughOptions<K, V> {
  /** Name used in metrics and traces (e.g. the entity type). */
  readonly name: string;
  readonly reader: KeyReader;
  readonly store: CacheStore;
  readonly locate: (key: K) => CacheLocation;
  /**
   * Loads the missing keys from the source of truth, answering in the same order (null: does not
   * exist, not cached). It may push related entries into `fills` (e.g. the entities of a page it
   * loaded), which are written in the same pipeline as the misses.
   */
  readonly fetch: (misses: readonly K[], fills: CacheEntry[]) => Promise<readonly (V | null)[]>;
  /** Time to live of filled entries, in seconds (0: never stored); per key or for all. */
  readonly ttlSeconds: number | ((key: K) => number);
  /** Memo key for object-valued loader keys (DataLoader's cacheKeyFn). */
  readonly memoKey?: (key: K) => string;
  readonly observer?: LoaderObserver;
}

type Envelope<V> = { v: V; g?: string };

/**
 * A per-request DataLoader that reads through the cache: one lookup round trip for all keys of a
 * batch (shared with sibling loaders through the KeyReader), one source query for the misses, one
 * pipelined write-back. The DataLoader memo stays on, so a request sees one value per key.
 */
export function createReadThroughLoader<K, V>(options: ReadThroughOptions<K, V>): DataLoader<K, V | null, string> {
  const { name, reader, store, locate, fetch, ttlSeconds, observer } = options;
  if (typeof ttlSeconds === 'number' && !(Number.isInteger(ttlSeconds) && ttlSeconds >= 0)) {
    throw new TypeError(`createReadThroughLoader(${name}): ttlSeconds must be a non-negative integer, got ${ttlSeconds}`);
  }
  const ttlOf = typeof ttlSeconds === 'number' ? () => ttlSeconds : ttlSeconds;

  async function batch(keys: readonly K[]): Promise<(V | null)[]> {
    const locations = keys.map(locate);
    const generationKeys = [...new Set(locations.flatMap((l) => (l.generationKey ? [l.generationKey] : [])))];
    const lookups = await reader.loadMany([...generationKeys, ...locations.map((l) => l.cacheKey)]);
    const generations = new Map(generationKeys.map((key, i) => [key, asString(lookups[i]) ?? '0']));

    const results: (V | null)[] = new Array(keys.length).fill(null);
    const misses: number[] = [];
    locations.forEach((location, i) => {
      const envelope = decode<V>(asString(lookups[generationKeys.length + i]));
      const current = location.generationKey ? generations.get(location.generationKey) : undefined;
      if (envelope && envelope.g === current) results[i] = envelope.v;
      else misses.push(i);
    });
    observer?.lookup?.(name, keys.length - misses.length, misses.length);
    if (misses.length === 0) return results;

    const fills: CacheEntry[] = [];
    const loaded = await fetch(misses.map((i) => keys[i]!), fills);
    misses.forEach((keyIndex, j) => {
      const value = loaded[j] ?? null;
      results[keyIndex] = value;
      if (value === null) return;
      const { cacheKey, generationKey } = locations[keyIndex]!;
      const g = generationKey ? generations.get(generationKey) : undefined;
      fills.push({ key: cacheKey, value: JSON.stringify(g === undefined ? { v: value } : { v: value, g }), ttlSeconds: ttlOf(keys[keyIndex]!) });
    });
    if (fills.length > 0) {
      await store.setMany(fills);
      observer?.fill?.(name, fills.length);
    }
    return results;
  }

  return new DataLoader<K, V | null, string>(batch, { cacheKeyFn: options.memoKey ?? ((k) => String(k)) });
}

/** Encodes a value the way read-through loaders store it, for fills made on a loader's behalf. */
export function encodeCached<V>(value: V): string {
  return JSON.stringify({ v: value });
}

function asString(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function decode<V>(raw: string | null): Envelope<V> | null {
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Envelope<V>;
    return parsed && typeof parsed === 'object' && 'v' in parsed ? parsed : null;
  } catch {
    return null; // a corrupt entry is a miss, and the fill overwrites it
  }
}
