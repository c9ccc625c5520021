import type { Evictions } from '../../../cache/evictions.ts';
import type { Invalidator, Snapshot } from '../../../cache/invalidator.ts';
import { decode, encodeValue } from '../../../cache/read-through-loader.ts';
import { CachedType, families } from '../../../catalog/families.ts';
import { withNewHead, type Page } from '../../../catalog/page.ts';
import type { BookStats, ReviewRow } from '../../../catalog/rows.ts';
import type { TtlOf } from '../../cache-policy.ts';
import { reviewHeadPages } from '../../loaders/page-location.ts';

/**
 * Write-through of a new review (PostgreSQL, while the change feed recognises this process's
 * commits): what a `book(id:)` answer reads after `addReview` — the review, the book's review count
 * and the head pages of its reviews — written by the mutation's own invalidation instead of read
 * again from the database.
 *
 * `before` reads, before the transaction begins, the clock, the book's cached counts, the reviews'
 * generation and the cached head pages (one round trip). Nothing read then can include the new
 * review (it is inserted after), so `after` carries each forward by exactly it: the count plus
 * one, the review at the head of each page. Each is written only if nothing else changed since
 * the read: the counts if the book's tombstone did not move past that clock (as a row fill,
 * Evictions.fill), a page if the list's generation is still the one it was read under
 * (Evictions.pageFill). A commit after ours invalidates after its commit: before our script (then
 * nothing is written) or after it (it deletes or outdates what we wrote).
 */
export interface ReviewWriteThrough {
  readonly bookId: number;
  readonly snapshot: Snapshot;
  readonly heads: readonly { readonly family: string; readonly variant: string; readonly first: number }[];
}

export async function beforeReview(invalidator: Invalidator, bookId: number): Promise<ReviewWriteThrough> {
  const heads = reviewHeadPages(bookId);
  const snapshot = await invalidator.snapshot({
    entities: [{ type: CachedType.BookStats, id: bookId }], families: [families.bookReviews(bookId)], pages: heads,
  });
  return { bookId, snapshot, heads };
}

/** Adds the fills to the invalidation of the committed `review` (after reviewChanged). */
export function afterReview(evictions: Evictions, { bookId, snapshot, heads }: ReviewWriteThrough, review: ReviewRow, ttlOf: TtlOf): void {
  evictions.fill(CachedType.Review, review.id, encodeValue(review), ttlOf('Review'), snapshot.clock);
  const stats = decode<BookStats>(snapshot.entities[0] ?? null);
  if (stats?.v && Number.isSafeInteger(stats.v.count) && Number.isFinite(stats.v.ratingSum)) {
    const counted: BookStats = { count: stats.v.count + 1, ratingSum: stats.v.ratingSum + review.rating };
    // The counts back Book's scalar fields (create-loaders.ts: Book's maxAge).
    evictions.fill(CachedType.BookStats, bookId, encodeValue(counted), ttlOf('Book'), snapshot.clock);
  }
  const generation = snapshot.generations[0];
  if (generation === null || generation === undefined || !/^\d+$/.test(generation)) return;
  heads.forEach(({ family, variant, first }, i) => {
    const page = decode<Page>(snapshot.pages[i] ?? null);
    if (!page?.v || page.g !== generation) return; // not built under the generation read: not current then
    const next = withNewHead(page.v, review.id, first);
    if (!next) return;
    const bumped = String(Number(generation) + 1); // the script bumps it once, from `generation`
    evictions.pageFill(family, variant, encodeValue(next, bumped), ttlOf('ReviewConnection'), generation);
  });
}
