/**
 * The storage interface the cache core talks to. Implementations must honour the failure contract:
 * reads never reject (an unreachable store answers "miss"), writes of cached values never reject
 * (a lost fill only costs a later miss). Invalidations do reject, because a lost invalidation must be
 * repaired (see Invalidator) rather than ignored.
 */
export interface CacheEntry {
  readonly key: string;
  readonly value: string;
  /** Time to live in whole seconds; entries with ttl <= 0 are not written at all. */
  readonly ttlSeconds: number;
}

export interface CacheStore {
  /** One round trip. Missing keys, and every key when the store is unreachable, are null. */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /** One round trip (a pipeline). Never rejects. */
  setMany(entries: readonly CacheEntry[]): Promise<void>;
  /** One round trip: deletes `deleteKeys` and INCRs `bumpKeys`. Rejects when it may not have happened. */
  invalidate(deleteKeys: readonly string[], bumpKeys: readonly string[]): Promise<void>;
  /** Reads an integer counter (the epoch); null when absent or unreachable. */
  readCounter(key: string): Promise<number | null>;
  /** INCRs a counter and returns its new value. Rejects when unreachable. */
  increment(key: string): Promise<number>;
}
