import type { CacheStore } from './cache-store.ts';

/**
 * The cache epoch: part of every key, so that one INCR retires everything cached before it. Held
 * in process for key building (no extra round trip per request); `refresh` reads it from the store.
 */
export interface Epoch {
  current(): number;
  /** Reads the shared epoch; keeps the last known one when the store is unreachable. */
  refresh(): Promise<number>;
  /** Retires every cached entry of every process sharing the store. Rejects when unreachable. */
  bump(): Promise<number>;
  /** Adopts an epoch learnt elsewhere (another process's bump); never goes backwards. */
  adopt(value: number): void;
}

export function createEpoch(store: CacheStore, epochKey: string, onBump?: (epoch: number) => void): Epoch {
  let epoch = 0;
  return {
    current: () => epoch,
    async refresh() {
      const shared = await store.readCounter(epochKey);
      if (shared !== null && Number.isSafeInteger(shared)) epoch = Math.max(epoch, shared);
      return epoch;
    },
    async bump() {
      epoch = Math.max(epoch, await store.increment(epochKey));
      onBump?.(epoch);
      return epoch;
    },
    adopt(value) {
      if (Number.isSafeInteger(value)) epoch = Math.max(epoch, value);
    },
  };
}
