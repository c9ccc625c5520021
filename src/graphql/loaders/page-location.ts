import type { Keyspace } from '../../cache/keyspace.ts';
import { bucketsCovering } from '../../cache/range-buckets.ts';
import type { CacheLocation } from '../../cache/read-through-loader.ts';
import { families, RANGE_ORDER_FIELDS, type BookOrderField } from '../../catalog/families.ts';
import type { Page, PageSpec, SortValue } from '../../catalog/page.ts';
import { encodeCursor } from '../connections/cursor.ts';

/** Which family a page belongs to: the rule that decides what a write must invalidate. */
export function familyOf(spec: PageSpec): string {
  switch (spec.table) {
    case 'book': {
      const field = spec.sort.name.split('.')[1] as BookOrderField;
      return spec.partition ? families.authorBooks(spec.partition.value, field) : families.books(field);
    }
    case 'review':
      return families.bookReviews(spec.partition!.value);
    case 'author':
      return families.authors();
    case 'favorite':
      return families.accountFavorites(spec.partition!.value);
  }
}

/** Page key variant: everything about the page that is not its family. */
export function pageVariant(spec: PageSpec): string {
  const after = spec.after ? encodeCursor(spec.sort.name, spec.after.value, spec.after.id) : '-';
  return `${spec.sort.direction}.${spec.first}.${after}`;
}

/**
 * The sizes (`first`) of the head pages of books' reviews this process has been asked for, at most
 * a few: where `addReview` carries a cached head page forward (the new review first) instead of
 * leaving it to be read again (review-write-through.ts). Only a hint — a page of another size is
 * invalidated as always.
 */
const reviewHeadVariants = new Map<number, string>();
const REVIEW_HEAD_SIZES_MAX = 4;

/** The head pages of one book's reviews worth carrying forward: their family, key variant and size. */
export function reviewHeadPages(bookId: number): { family: string; variant: string; first: number }[] {
  return [...reviewHeadVariants].map(([first, variant]) => ({ family: families.bookReviews(bookId), variant, first }));
}

export function pageLocation(keyspace: Keyspace, spec: PageSpec): CacheLocation {
  if (spec.table === 'review' && spec.after === null && !reviewHeadVariants.has(spec.first) && reviewHeadVariants.size < REVIEW_HEAD_SIZES_MAX) {
    reviewHeadVariants.set(spec.first, pageVariant(spec));
  }
  const family = familyOf(spec);
  const variant = pageVariant(spec);
  return { cacheKey: keyspace.page(family, variant), generationKey: keyspace.generation(family), leaseKey: keyspace.pageLease(family, variant) };
}

/**
 * The range bucket tombstones a page depends on (range-bucketed book orders only, else null): the
 * buckets covering the values from its cursor to the row after its last one — the rows whose
 * arrival or departure would change it. A missing end is open (the list's start or end).
 */
export function pageRanges(keyspace: Keyspace, spec: PageSpec, page: Page): string[] | null {
  if (spec.table !== 'book' || !RANGE_ORDER_FIELDS.has(spec.sort.name.split('.')[1] as BookOrderField)) return null;
  const ascending = spec.sort.direction === 'ASC';
  const start = spec.after ? numeric(spec.after.value) : ascending ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  const end = page.hasNext ? numeric(page.nextSortValue) : ascending ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  const family = familyOf(spec);
  const buckets = ascending ? bucketsCovering(start, end) : bucketsCovering(end, start);
  return buckets.map((bucket) => keyspace.rangeTombstone(family, bucket));
}

/** A numeric sort value; anything else (never expected) is NaN, which depends on every write. */
function numeric(value: SortValue | undefined): number {
  return typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
}
