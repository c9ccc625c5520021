import { MISSING_YEAR_SORT, type BookOrderField } from '../../catalog/families.ts';
import type { Direction, SortSpec } from '../../catalog/page.ts';

/**
 * Sort expressions of the book orders. A missing published year sorts as the smallest value on
 * both databases (SQLite and PostgreSQL disagree about where NULLs go), and keyset comparisons
 * see the same non-null value the ORDER BY sees.
 */
const EXPRESSION: Record<BookOrderField, string> = {
  ID: 'id',
  TITLE: 'title',
  PRICE: 'price_cents',
  PUBLISHED_YEAR: `COALESCE(published_year, ${MISSING_YEAR_SORT})`,
};

/** Books' default order: newest first. */
export const DEFAULT_BOOK_ORDER = { field: 'ID', direction: 'DESC' } as const;

export function bookSort(field: BookOrderField, direction: Direction): SortSpec {
  return { name: `book.${field}.${direction}`, expression: EXPRESSION[field], direction };
}
