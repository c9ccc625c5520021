import type { Evictions } from '../cache/evictions.ts';
import { BOOK_ORDER_FIELDS, CachedType, families, MISSING_YEAR_SORT, RANGE_ORDER_FIELDS, type BookOrderField } from './families.ts';

/**
 * What a change to a row makes stale, as a pure function of the row's key fields before and after
 * (null before: created; null after: deleted). Mutation resolvers and the ORM subscriber both call
 * these, so the two feeds agree by construction; the Invalidator merges their duplicates.
 *
 * Only fields that lists are ordered or filtered by touch families. Any other field evicts its
 * entity key and nothing else, because pages hold ids, never entity copies.
 */
export interface AuthorFacts {
  readonly id: number;
}

export interface BookFacts {
  readonly id: number;
  readonly authorId: number;
  readonly title: string;
  readonly priceCents: number;
  readonly publishedYear: number | null;
}

export interface ReviewFacts {
  readonly id: number;
  readonly bookId: number;
  readonly rating: number;
}

/** The sort field each book order reads. ID never changes, so an update never reorders it. */
const SORT_FACT: Record<Exclude<BookOrderField, 'ID'>, 'title' | 'priceCents' | 'publishedYear'> = {
  TITLE: 'title',
  PRICE: 'priceCents',
  PUBLISHED_YEAR: 'publishedYear',
};

export function authorChanged(e: Evictions, before: AuthorFacts | null, after: AuthorFacts | null): Evictions {
  const id = (before ?? after)?.id;
  if (id === undefined) return e;
  e.entity(CachedType.Author, id);
  if (!before || !after) {
    e.family(families.authors());
    // Deleted: its own lists disappear with it. Its books are passed to bookChanged by the caller.
    if (!after) for (const field of BOOK_ORDER_FIELDS) e.family(families.authorBooks(id, field));
  }
  return e;
}

export function bookChanged(
  e: Evictions,
  before: BookFacts | null,
  after: BookFacts | null,
  deletedReviewIds: readonly number[] = [],
): Evictions {
  const id = (before ?? after)?.id;
  if (id === undefined) return e;
  e.entity(CachedType.Book, id);

  if (!before || !after) {
    const row = (before ?? after)!;
    for (const field of BOOK_ORDER_FIELDS) {
      e.family(families.books(field)).family(families.authorBooks(row.authorId, field));
    }
    if (!after) {
      e.entity(CachedType.BookStats, id).family(families.bookReviews(id));
      for (const reviewId of deletedReviewIds) e.entity(CachedType.Review, reviewId);
    }
    return e;
  }

  if (before.authorId !== after.authorId) {
    // Moved: both authors' lists change membership and totalCount.
    for (const field of BOOK_ORDER_FIELDS) {
      e.family(families.authorBooks(before.authorId, field)).family(families.authorBooks(after.authorId, field));
    }
  }
  for (const [field, fact] of Object.entries(SORT_FACT) as [Exclude<BookOrderField, 'ID'>, keyof BookFacts][]) {
    if (before[fact] === after[fact]) continue;
    const lists = [families.books(field), families.authorBooks(after.authorId, field)];
    if (RANGE_ORDER_FIELDS.has(field)) {
      // Same members, new order: only pages around the old and the new value. (A moved book's
      // author lists were bumped whole above, which covers their ranges.)
      for (const list of lists) e.reorder(list, sortNumber(before[fact]), sortNumber(after[fact]));
    } else {
      for (const list of lists) e.family(list);
    }
  }
  return e;
}

/** A numeric sort fact as the list's ORDER BY sees it (see book-order.ts: a missing year sorts first). */
function sortNumber(value: BookFacts[keyof BookFacts]): number {
  return value === null ? MISSING_YEAR_SORT : Number(value);
}

export function reviewChanged(e: Evictions, before: ReviewFacts | null, after: ReviewFacts | null): Evictions {
  const id = (before ?? after)?.id;
  if (id === undefined) return e;
  e.entity(CachedType.Review, id);
  const bookIds = new Set<number>();
  if (!before || !after || before.bookId !== after.bookId) {
    for (const row of [before, after]) {
      if (row) {
        e.family(families.bookReviews(row.bookId));
        bookIds.add(row.bookId);
      }
    }
  } else if (before.rating !== after.rating) {
    bookIds.add(after.bookId);
  }
  for (const bookId of bookIds) e.entity(CachedType.BookStats, bookId);
  return e;
}

/**
 * Books removed by a delete (their own or their author's), with the reviews removed with them and
 * the accounts whose favorites listed them (ON DELETE CASCADE removes those favorites too).
 */
export function booksDeleted(
  e: Evictions,
  books: readonly BookFacts[],
  reviewIdsByBook: ReadonlyMap<number, readonly number[]>,
  favoritedBy: readonly number[] = [],
): Evictions {
  for (const book of books) bookChanged(e, book, null, reviewIdsByBook.get(book.id) ?? []);
  for (const accountId of favoritedBy) favoritesChanged(e, accountId);
  return e;
}

/**
 * A favorite added or removed: that account's favorites list, and nothing shared. The book's own
 * key is untouched (a favorite changes no field of the book).
 */
export function favoritesChanged(e: Evictions, accountId: number): Evictions {
  if (!Number.isSafeInteger(accountId)) throw new TypeError(`favoritesChanged: accountId must be an integer, got ${accountId}`);
  return e.family(families.accountFavorites(accountId));
}
