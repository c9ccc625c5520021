import DataLoader from 'dataloader';
import type { CacheStore } from './cache-store.ts';

export type KeyReader = DataLoader<string, string | null>;

/**
 * One per request: every read-through loader asks its keys from this reader, so all cache lookups
 * issued in the same tick — entity loaders, page loaders, their generation keys and the clock, of
 * every type at one depth of the query — leave as one MGET (each distinct key once). It does not
 * memoise: loaders above it do, and a memo here would hide this request's own invalidations.
 */
export function createKeyReader(store: CacheStore): KeyReader {
  return new DataLoader<string, string | null>(async (keys) => {
    const unique = [...new Set(keys)];
    const values = await store.getMany(unique);
    const byKey = new Map(unique.map((key, i) => [key, values[i] ?? null]));
    return keys.map((key) => byKey.get(key) ?? null);
  }, { cache: false });
}
