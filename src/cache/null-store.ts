import type { CacheStore } from './cache-store.ts';

/** A store that holds nothing: every read misses. Used when the cache is switched off. */
export function createNullStore(): CacheStore {
  return {
    getMany: async (keys) => keys.map(() => null),
    setMany: async () => {},
    invalidate: async () => {},
    readCounter: async () => null,
    increment: async () => 0,
  };
}
