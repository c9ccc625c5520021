/**
 * Range buckets: what lets a write that only *reorders* a sorted list invalidate the pages near the
 * old and the new sort value, instead of every page of the list.
 *
 * A keyset page lists the rows between its cursor and the row after its last one; it can change
 * only when a row's sort value enters or leaves that value range. The number line is cut into
 * buckets at several levels of width (16^0, 16^1, … 16^7); every bucket has a tombstone that a
 * reordering write sets to the invalidation clock — for the bucket of the old value and of the new
 * one, at every level (so 2 × LEVELS keys at most, whatever is cached: still O(1) per write). A page
 * depends on the buckets that cover its value range at the finest level where that takes at most
 * MAX_SPAN buckets, and is served only while none of them is newer than the clock read before it
 * was built.
 *
 * Invariants:
 *   - a value always lands in the same bucket of a level, and buckets are monotone in the value, so
 *     the buckets covering [lo, hi] include the bucket of every value in between;
 *   - every negative value shares bucket -1 of each level, which makes a range open below (the first
 *     page of an ascending list) coverable by finitely many buckets;
 *   - a range open above (the last page of an ascending list, the first of a descending one), or one
 *     too wide for any level, depends on the single bucket of the top level, which every reordering
 *     write sets: never served stale, only invalidated more often.
 */

/** Levels of finite buckets; level LEVELS is the top one, a single bucket holding every value. */
export const LEVELS = 8;
/** Width ratio between consecutive levels. */
const FANOUT = 16;
/** A page depends on at most this many buckets of one level. */
export const MAX_SPAN = 4;

/** A bucket's name: `<level>.<index>`, unique within one list family. */
export type BucketName = string;

function bucketIndex(value: number, level: number): number {
  if (level >= LEVELS) return 0;
  return value < 0 ? -1 : Math.floor(value / FANOUT ** level);
}

const TOP: BucketName = `${LEVELS}.0`;

/** Every bucket `value` falls in, one per level: what a write of (or from) this value must set. */
export function bucketsOfValue(value: number): BucketName[] {
  if (!Number.isFinite(value)) return [TOP];
  const names: BucketName[] = [];
  for (let level = 0; level < LEVELS; level++) names.push(`${level}.${bucketIndex(value, level)}`);
  names.push(TOP);
  return names;
}

/**
 * The buckets a page whose rows lie within [lo, hi] depends on (bounds inclusive; -Infinity and
 * Infinity for open ends). Finest level first: the fewer rows per bucket, the fewer writes touch it.
 */
export function bucketsCovering(lo: number, hi: number): BucketName[] {
  if (Number.isNaN(lo) || Number.isNaN(hi) || hi === Number.POSITIVE_INFINITY || lo > hi) return [TOP];
  const low = lo === Number.NEGATIVE_INFINITY ? -1 : lo;
  for (let level = 0; level < LEVELS; level++) {
    const first = bucketIndex(low, level);
    const last = bucketIndex(hi, level);
    if (last - first + 1 <= MAX_SPAN) {
      const names: BucketName[] = [];
      for (let index = first; index <= last; index++) names.push(`${level}.${index}`);
      return names;
    }
  }
  return [TOP];
}
