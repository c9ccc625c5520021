/** A sort value as stored in a page and a cursor: a column value, never an entity copy. */
export type SortValue = string | number | null;

/**
 * One cached page of a list: ids in order, the sort value of each (to build cursors), the list's
 * totalCount and whether more follow. This is all a page key stores.
 */
export interface Page {
  readonly ids: readonly number[];
  readonly sortValues: readonly SortValue[];
  readonly total: number;
  readonly hasNext: boolean;
  /**
   * The sort value of the row after the last one (when hasNext): with the cursor, it bounds the
   * value range the page depends on (a row entering or leaving that range is what changes it).
   */
  readonly nextSortValue?: SortValue;
}

/** `favorite`: an account's favorites, listing books (page ids are book ids). */
export type ListTable = 'author' | 'book' | 'review' | 'favorite';
export type Direction = 'ASC' | 'DESC';

/** What one page of one list is: which rows, in which order, from where. */
export interface PageSpec {
  readonly table: ListTable;
  /** Restricts the list to one parent (an author's books, a book's reviews); null: the whole table. */
  readonly partition: { readonly column: 'author_id' | 'book_id' | 'account_id'; readonly value: number } | null;
  readonly sort: SortSpec;
  readonly first: number;
  /** Keyset position: rows strictly after (sortValue, id) in the list's order. */
  readonly after: { readonly value: SortValue; readonly id: number } | null;
}

export interface SortSpec {
  /** Names the order in cursors; a cursor is only valid for the order it was made in. */
  readonly name: string;
  /** SQL expression over the table's columns (alias-free, unqualified), never null. */
  readonly expression: string;
  readonly direction: Direction;
}

/**
 * The head page (no cursor) of a list in descending id order after a row with a new, larger id
 * joined it: the row first, the last one pushed past `first` (it becomes the next row), the total
 * one more. Null when `id` is not above every listed id (then the page may already hold it, or
 * the row is not the newest: it must be rebuilt).
 */
export function withNewHead(page: Page, id: number, first: number): Page | null {
  if (page.ids.length > first || (page.ids.length > 0 && page.ids[0]! >= id)) return null;
  const ids = [id, ...page.ids];
  const sortValues: SortValue[] = [id, ...page.sortValues];
  const full = ids.length > first;
  return {
    ids: ids.slice(0, first),
    sortValues: sortValues.slice(0, first),
    total: page.total + 1,
    hasNext: page.hasNext || full,
    ...(full ? { nextSortValue: sortValues[first]! } : page.hasNext ? { nextSortValue: page.nextSortValue! } : {}),
  };
}
