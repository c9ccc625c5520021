/**
 * How long the cache remembers and trusts things, in one place because each bound is defined by
 * the others.
 */

/** A database read older than this never fills the cache (nor a stored response): tombstones outlive it by far. */
export const MAX_FILL_AGE_MS = 30_000;

/**
 * How long an invalidation is remembered (entity and range bucket tombstones). It must outlive
 * every reader that may still act on a read from before it: a loader's fill (at most
 * MAX_FILL_AGE_MS old) and anything stored that is checked against tombstones when read (a whole
 * response, a page of a range-bucketed list), whose TTL is capped at CHECKED_MAX_TTL_SECONDS — once
 * the tombstone is gone, nothing built before the invalidation may exist any more.
 */
export const TOMBSTONE_TTL_MS = 10 * 60_000;

/**
 * The longest TTL of a value that tombstones prove stale when it is read: the tombstones live
 * TOMBSTONE_TTL_MS, and the value may have been stored up to MAX_FILL_AGE_MS after its first read.
 */
export const CHECKED_MAX_TTL_SECONDS = Math.floor((TOMBSTONE_TTL_MS - MAX_FILL_AGE_MS) / 1000);
