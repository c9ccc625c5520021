import DataLoader from 'dataloader';
import type { CacheStore } from './cache-store.ts';

export type KeyReader = DataLoader<string, string | null>;

/**
 * One per request: every read-through loader asks its keys from this reader, so all cache lookups
 * issued in the same tick — entity loaders, page loaders and their generation keys, of every type
 * at one depth of the query — leave as one MGET. It does not memoise: loaders above it do, and a
 * memo here would hide generations bumped by this same request's mutations.
 */
export function createKeyReader(store: CacheStore): KeyReader {
  return new DataLoader<string, string | null>((keys) => store.getMany(keys), { cache: false });
}
