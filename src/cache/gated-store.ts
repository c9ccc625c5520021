import { bypassedLookup, type CacheStore } from './cache-store.ts';

/**
 * A store that is bypassed while `usable()` is false: reads miss and fills are skipped without a
 * round trip, leases are granted (there is nothing to wait for). Invalidations always go through:
 * they are never unsafe, and a failed one is reported as lost by the Invalidator.
 *
 * Used while cached data cannot be trusted: after this process lost invalidations (Redis was
 * unreachable when it wrote) and until the epoch bump that retires everything has succeeded.
 */
export function gateStore(store: CacheStore, usable: () => boolean): CacheStore {
  return {
    getMany: (keys) => (usable() ? store.getMany(keys) : Promise.resolve(keys.map(() => null))),
    lookup: (reads) => (usable() ? store.lookup(reads) : Promise.resolve(bypassedLookup(reads))),
    setMany: (entries, releases) => (usable() ? store.setMany(entries, releases) : Promise.resolve()),
    acquire: (leases, generations) => usable()
      ? store.acquire(leases, generations)
      : Promise.resolve({ acquired: leases.map(() => true), values: leases.map(() => null), generations: generations.map(() => null) }),
    invalidate: (request) => store.invalidate(request),
    increment: (key) => store.increment(key),
    raiseCounter: (key, floor) => store.raiseCounter(key, floor),
  };
}
