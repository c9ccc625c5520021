import type { CacheStore } from './cache-store.ts';

/**
 * The cache epoch: part of every key, so that one INCR retires everything cached before it. Held
 * in process for key building (no extra round trip per request); `refresh` reads it from the store.
 */
export interface Epoch {
  current(): number;
  /** Reads the shared epoch (raising it if Redis lost it); keeps the last known one when unreachable. */
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
      // Never lower: a late answer must not undo a bump announced meanwhile. A shared epoch below
      // ours means Redis lost it (restarted empty): raise it back, so that a process starting now
      // does not build keys in an epoch the others have left.
      const shared = await store.raiseCounter(epochKey, epoch);
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
