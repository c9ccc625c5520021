import { bypassedLookup, type CacheStore } from './cache-store.ts';

/** A store that holds nothing: every read misses, every lease is granted. Used when the cache is off. */
export function createNullStore(): CacheStore {
  return {
    getMany: async (keys) => keys.map(() => null),
    lookup: async (reads) => bypassedLookup(reads),
    setMany: async () => {},
    acquire: async (leases, generations) => ({
      acquired: leases.map(() => true), values: leases.map(() => null), generations: generations.map((g) => g.initial),
    }),
    invalidate: async () => ({ epoch: null }),
    increment: async () => 0,
    raiseCounter: async (_key, floor) => floor,
  };
}
