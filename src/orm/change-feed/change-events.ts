import { Evictions } from '../../cache/evictions.ts';
import { authorChanged, bookChanged, favoritesChanged, reviewChanged, type BookFacts } from '../../catalog/change-evictions.ts';
import { CachedType } from '../../catalog/families.ts';

/**
 * Row changes as the database reports them (PostgreSQL triggers → NOTIFY, SQLite TEMP triggers),
 * for the catalog's tables and the accounts' (account, favorite):
 * the table, and the row's key fields before and after, with the columns' snake_case names
 * (null before: inserted; null after: deleted). Only the fields some eviction rule reads are
 * carried; any other column's change still evicts the row's entity key, because every UPDATE is
 * reported.
 */
export interface AuthorKeys {
  readonly id: number;
}

export interface BookKeys {
  readonly id: number;
  readonly author_id: number;
  readonly title: string;
  readonly price_cents: number;
  readonly published_year: number | null;
}

export interface ReviewKeys {
  readonly id: number;
  readonly book_id: number;
  readonly rating: number;
}

/** An account: only its id (the cached account is evicted on any change; its secrets are never reported). */
export interface AccountKeys {
  readonly id: number;
}

export interface FavoriteKeys {
  readonly id: number;
  readonly account_id: number;
  readonly book_id: number;
}

export type ChangeEvent =
  | { readonly table: 'author'; readonly old: AuthorKeys | null; readonly new: AuthorKeys | null }
  | { readonly table: 'book'; readonly old: BookKeys | null; readonly new: BookKeys | null }
  | { readonly table: 'review'; readonly old: ReviewKeys | null; readonly new: ReviewKeys | null }
  | { readonly table: 'account'; readonly old: AccountKeys | null; readonly new: AccountKeys | null }
  | { readonly table: 'favorite'; readonly old: FavoriteKeys | null; readonly new: FavoriteKeys | null };

export type ChangeTable = ChangeEvent['table'];

/** The key columns each table's triggers report, in the order the triggers list them. */
export const CHANGE_COLUMNS: Record<ChangeTable, readonly string[]> = {
  author: ['id'],
  book: ['id', 'author_id', 'title', 'price_cents', 'published_year'],
  review: ['id', 'book_id', 'rating'],
  account: ['id'],
  favorite: ['id', 'account_id', 'book_id'],
};

/**
 * What a batch of row changes makes stale, by the same rules the mutation resolvers and the ORM
 * subscriber use. A deleted book's reviews arrive as review deletes of their own (the cascade fires
 * the review table's triggers), so no review ids are passed along with the book.
 */
export function evictionsForChanges(events: Iterable<ChangeEvent>, into: Evictions = new Evictions()): Evictions {
  for (const event of events) {
    switch (event.table) {
      case 'author':
        authorChanged(into, event.old, event.new);
        break;
      case 'book':
        bookChanged(into, event.old && bookFacts(event.old), event.new && bookFacts(event.new));
        break;
      case 'review':
        reviewChanged(
          into,
          event.old && { id: event.old.id, bookId: event.old.book_id, rating: event.old.rating },
          event.new && { id: event.new.id, bookId: event.new.book_id, rating: event.new.rating },
        );
        break;
      case 'account': {
        const id = (event.old ?? event.new)!.id;
        into.entity(CachedType.Account, id);
        // Deleted: its favorites go with it (they also arrive as favorite deletes of their own).
        if (!event.new) favoritesChanged(into, id);
        break;
      }
      case 'favorite':
        for (const row of [event.old, event.new]) if (row) favoritesChanged(into, row.account_id);
        break;
    }
  }
  return into;
}

function bookFacts(row: BookKeys): BookFacts {
  return {
    id: row.id, authorId: row.author_id, title: row.title, priceCents: row.price_cents, publishedYear: row.published_year,
  };
}

/** The other way: a book's facts as the triggers report them (a writer's own change, own-commits.ts). */
export function bookKeysOf(facts: BookFacts): BookKeys {
  return { id: facts.id, author_id: facts.authorId, title: facts.title, price_cents: facts.priceCents, published_year: facts.publishedYear };
}

/** A review's key columns as the triggers report them (a writer's own change, own-commits.ts). */
export function reviewKeysOf(review: { readonly id: number; readonly bookId: number; readonly rating: number }): ReviewKeys {
  return { id: review.id, book_id: review.bookId, rating: review.rating };
}

/**
 * Validates one reported change (decoded JSON from a trigger) into a ChangeEvent. Throws a
 * TypeError naming the field and showing the bad value: a malformed report must be noticed, not
 * turned into a wrong eviction.
 */
export function toChangeEvent(table: unknown, old: unknown, now: unknown): ChangeEvent {
  if (old == null && now == null) throw new TypeError(`change event: old and new row are both null (table ${JSON.stringify(table)})`);
  switch (table) {
    case 'author':
      return { table, old: old == null ? null : { id: integer(old, 'id') }, new: now == null ? null : { id: integer(now, 'id') } };
    case 'book':
      return { table, old: old == null ? null : bookKeys(old), new: now == null ? null : bookKeys(now) };
    case 'review':
      return { table, old: old == null ? null : reviewKeys(old), new: now == null ? null : reviewKeys(now) };
    case 'account':
      return { table, old: old == null ? null : { id: integer(old, 'id') }, new: now == null ? null : { id: integer(now, 'id') } };
    case 'favorite':
      return { table, old: old == null ? null : favoriteKeys(old), new: now == null ? null : favoriteKeys(now) };
    default:
      throw new TypeError(`change event: table must be author, book, review, account or favorite, got ${JSON.stringify(table)}`);
  }
}

function bookKeys(row: unknown): BookKeys {
  const title = field(row, 'title');
  if (typeof title !== 'string') throw new TypeError(`change event: book.title must be a string, got ${JSON.stringify(title)}`);
  const year = field(row, 'published_year');
  return {
    id: integer(row, 'id'),
    author_id: integer(row, 'author_id'),
    title,
    price_cents: integer(row, 'price_cents'),
    published_year: year === null ? null : integer(row, 'published_year'),
  };
}

function favoriteKeys(row: unknown): FavoriteKeys {
  return { id: integer(row, 'id'), account_id: integer(row, 'account_id'), book_id: integer(row, 'book_id') };
}

function reviewKeys(row: unknown): ReviewKeys {
  return { id: integer(row, 'id'), book_id: integer(row, 'book_id'), rating: integer(row, 'rating') };
}

function field(row: unknown, name: string): unknown {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new TypeError(`change event: a row must be an object, got ${JSON.stringify(row)}`);
  }
  return (row as Record<string, unknown>)[name];
}

function integer(row: unknown, name: string): number {
  const value = field(row, name);
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new TypeError(`change event: ${name} must be an integer, got ${JSON.stringify(value)}`);
  }
  return value;
}
