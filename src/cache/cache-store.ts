/**
 * The storage interface the cache core talks to. Implementations must honour the failure contract:
 * reads never reject (an unreachable store answers "miss"), fills never reject (a lost fill only
 * costs a later miss). Invalidations do reject, because a lost invalidation must be repaired (an
 * epoch bump) rather than ignored.
 */
export interface CacheEntry {
  readonly key: string;
  readonly value: string;
  /** Time to live in whole seconds; entries with ttl <= 0 are not written at all. */
  readonly ttlSeconds: number;
  /**
   * Versioned fill: written only if the entity's tombstone (the clock of its last invalidation)
   * is not newer than `readClock`, the invalidation clock read before the data was read from the
   * database. Check and write are atomic (a script), so an eviction that committed after the
   * filler's read can never be undone by the fill.
   */
  readonly guard?: { readonly tombstoneKey: string; readonly readClock: number };
  /** The lease this fill was made under: released (if still ours) when the fill is written. */
  readonly lease?: { readonly key: string; readonly token: string };
}

export interface LeaseRequest {
  readonly key: string;
  readonly token: string;
  readonly ttlMs: number;
  /** The value the lease is for: read again in the same round trip, since a filler may just have finished. */
  readonly valueKey: string;
}

/** One key of a lookup (CacheStore.lookup), and what to do in the same round trip if it holds no value. */
export interface LookupRead {
  readonly key: string;
  /** Take this lease (SET NX PX), to be the one process that fills the key. */
  readonly lease?: { readonly key: string; readonly token: string; readonly ttlMs: number };
  /** Create the key with this value (a generation counter never seen), and answer it. */
  readonly initial?: string;
}

/**
 * What a lookup did with each key's lease: `acquired` it (the value was absent and the lease
 * free), found it `held` by another filler (the value was absent), or did not try (`skipped`: no
 * lease asked, a value was there, or a store that cannot take leases while it reads).
 */
export type LookupLeaseResult = 'acquired' | 'held' | 'skipped';

export interface EntityEviction {
  readonly key: string;
  readonly tombstoneKey: string;
  readonly leaseKey: string;
  /**
   * The writer's own new value of the entity (a row it has just committed): written by the same
   * atomic invalidation, after the delete, only if the entity's tombstone before this invalidation
   * was not newer than `guardClock` — an invalidation clock the writer read before its COMMIT. Any
   * write committed after this one invalidates after its own commit: before this script (its
   * tombstone is then newer than `guardClock`: nothing is written) or after it (it deletes the
   * value). A single Redis only (a cluster's invalidation spans round trips: no fill there).
   */
  readonly fill?: { readonly value: string; readonly ttlSeconds: number; readonly guardClock: number };
}

export interface PageFill {
  readonly key: string;
  readonly generationKey: string;
  readonly expectedGeneration: string;
  readonly value: string;
  readonly ttlSeconds: number;
}

export interface InvalidationRequest {
  readonly entities: readonly EntityEviction[];
  readonly generationKeys: readonly string[];
  /** Range bucket tombstones to set to the new clock, like entity tombstones (nothing to delete). */
  readonly rangeTombstoneKeys?: readonly string[];
  /**
   * A writer's new values of pages of families this invalidation bumps (a list it has just
   * changed, e.g. a new review at the head of a book's reviews): written after the INCR, only if
   * the family's generation before this invalidation was `expectedGeneration` — the one the writer
   * read the old page under, before its transaction began, so no other change of the list was
   * invalidated in between (a later one invalidates after this script, and bumps the generation
   * past the value's). `value` carries the bumped generation. A single Redis only.
   */
  readonly pageFills?: readonly PageFill[];
  readonly clockKey: string;
  /** How long tombstones live: longer than any read-to-fill gap (fills older than this are dropped). */
  readonly tombstoneTtlMs: number;
  /** Read in the same pipeline, so the caller learns whether the epoch moved under it. */
  readonly epochKey?: string;
  /**
   * A pub/sub channel on which to publish what the invalidation changed (`announcedKeys`)
   * (space-separated) in the same pipeline: in-process tiers of every process drop their copies,
   * and the message leaves before the caller (a mutation) can answer.
   */
  readonly announce?: string;
}

export interface CacheStore {
  /** One round trip. Missing keys, and every key when the store is unreachable, are null. */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /**
   * getMany that also does, in the same round trip, what `acquire` would do next for the keys
   * found absent: take their leases (SET NX PX) and create the generation counters never seen
   * (LookupRead) — atomically with reading each key, so a miss learns at once whether it is the
   * one to fill it. A store that cannot (a cluster) reads only: leases `skipped`, absent counters
   * null, and `acquire` does the rest. Never rejects: unreachable → every value null, every lease
   * asked `acquired` (no filler can be waited for: each reads the database itself, as when the
   * store is bypassed).
   */
  lookup(reads: readonly LookupRead[]): Promise<{ values: (string | null)[]; leases: LookupLeaseResult[] }>;
  /**
   * One round trip (a pipeline): writes the entries and releases `releases` — leases taken for
   * misses that turned out to have nothing to fill (each only while the token still holds it).
   * Never rejects.
   */
  setMany(entries: readonly CacheEntry[], releases?: readonly { key: string; token: string }[]): Promise<void>;
  /**
   * One round trip: tries to take each lease (SET NX PX) and makes sure each generation counter
   * exists, starting a missing one at `initial` so that a counter that was lost can never come
   * back at a value some old page was stored under. Never rejects: unreachable → no lease held,
   * generations null.
   */
  acquire(leases: readonly LeaseRequest[], generations: readonly { key: string; initial: string }[]):
    Promise<{ acquired: boolean[]; values: (string | null)[]; generations: (string | null)[] }>;
  /**
   * Evicts entities (tombstone at the new clock, then delete value and lease) and bumps
   * generations. One round trip on a single Redis (an atomic script); on a cluster two: the clock's
   * INCR, then one pipeline per node. Rejects when it may not have happened.
   */
  invalidate(request: InvalidationRequest): Promise<{ epoch: number | null }>;
  /** INCRs a counter and returns its new value. Rejects when unreachable. */
  increment(key: string): Promise<number>;
  /**
   * Raises a counter to at least `floor` (atomically; never lowers it) and returns its value, or
   * null when unreachable. Repairs a counter that Redis lost (a restart without persistence).
   */
  raiseCounter(key: string, floor: number): Promise<number | null>;
}

/**
 * What an invalidation changes, as its message names it (the store publishes exactly this):
 * the entities' values and tombstones, the generations it bumps and the range tombstones it raises.
 * Values and generations are what an in-process tier holds (local-tier.ts); tombstones are what
 * whole responses depend on (local-responses.ts).
 */
export function announcedKeys(request: Pick<InvalidationRequest, 'entities' | 'generationKeys' | 'rangeTombstoneKeys' | 'pageFills'>): string[] {
  return [
    ...request.entities.flatMap((e) => [e.key, e.tombstoneKey]), ...request.generationKeys, ...(request.rangeTombstoneKeys ?? []),
    ...(request.pageFills ?? []).map((f) => f.key),
  ];
}

/** A lookup's answer from a store that is bypassed or unreachable: nothing found, every lease asked granted. */
export function bypassedLookup(reads: readonly LookupRead[]): { values: null[]; leases: LookupLeaseResult[] } {
  return { values: reads.map(() => null), leases: reads.map((read) => (read.lease ? 'acquired' : 'skipped')) };
}
