/**
 * Cached entity types and list families of the catalog. A family is the set of all cached pages of
 * one list, whatever their `first`/`after`; its generation is bumped when the list's membership or
 * order may have changed.
 */
export const BOOK_ORDER_FIELDS = ['ID', 'TITLE', 'PRICE', 'PUBLISHED_YEAR'] as const;
export type BookOrderField = (typeof BOOK_ORDER_FIELDS)[number];

/** The sort value of a book without a published year (the smallest int4: first in ASC order). */
export const MISSING_YEAR_SORT = -2147483648;

/**
 * Book orders by a numeric value: their families are range-bucketed (cache/range-buckets.ts), so a
 * write that changes the value invalidates only pages near the old and the new value. Orders by text
 * are not: a collation's order is not a function the server can bucket by.
 */
export const RANGE_ORDER_FIELDS: ReadonlySet<BookOrderField> = new Set(['PRICE', 'PUBLISHED_YEAR']);

export const CachedType = {
  Author: 'Author',
  Book: 'Book',
  Review: 'Review',
  /** A book's review count and rating sum. */
  BookStats: 'BookStats',
  /** A viewer's own account (PRIVATE: only a request signed in as it computes its key). */
  Account: 'Account',
} as const;

export const families = {
  /** All books ordered by `field` (Query.books without authorId). */
  books: (field: BookOrderField) => `books.${field}`,
  /** One author's books ordered by `field` (Author.books is ID; Query.books(authorId:) any field). */
  authorBooks: (authorId: number, field: BookOrderField) => `author.${authorId}.books.${field}`,
  /** All authors (Query.authors). */
  authors: () => 'authors',
  /** One book's reviews (Book.reviews). */
  bookReviews: (bookId: number) => `book.${bookId}.reviews`,
  /**
   * One account's favorite books (Account.favorites): PRIVATE, so the family is the viewer's own and
   * no other viewer's request ever computes its keys.
   */
  accountFavorites: (accountId: number) => `account.${accountId}.favorites`,
};
