import type { PageSpec, SortSpec } from '../../catalog/page.ts';
import { badUserInput } from '../errors.ts';
import { decodeCursor } from './cursor.ts';

/** The largest `first` any connection accepts. */
export const MAX_FIRST = 100;

/**
 * Validates a connection's `first`/`after` against its order and builds the page to load.
 * Throws BAD_USER_INPUT for `first` outside 0..100 or a cursor that is not one of this list's.
 */
export function pageSpec(
  base: Pick<PageSpec, 'table' | 'partition' | 'sort'>,
  args: { first?: number | null; after?: string | null },
): PageSpec {
  const first = args.first ?? 10;
  if (!Number.isInteger(first) || first < 0 || first > MAX_FIRST) {
    throw badUserInput(`"first" must be between 0 and ${MAX_FIRST}, got ${first}`, 'first');
  }
  let after: PageSpec['after'] = null;
  if (args.after !== null && args.after !== undefined) {
    after = decodeCursor(base.sort.name, args.after);
    if (after && !fitsSort(base.sort, after)) after = null;
    if (!after) throw badUserInput(`"after" is not a valid cursor for this list: ${JSON.stringify(args.after.slice(0, 80))}`, 'after');
  }
  return { ...base, first, after };
}

/**
 * Whether a cursor's sort value has the type its order sorts by. The value reaches the SQL next to
 * the sort expression, so a tampered cursor ('abc' for a price, a NUL in a title) failed the whole
 * statement on PostgreSQL (INTERNAL_SERVER_ERROR) and silently compared across types on SQLite.
 * Sort expressions are never null (SortSpec), and an ID order's sort value is the id itself.
 * The field is the middle part of the order's name, as in page-location.ts.
 */
function fitsSort(sort: SortSpec, { value, id }: NonNullable<PageSpec['after']>): boolean {
  switch (sort.name.split('.')[1]) {
    case 'ID': return value === id;
    case 'TITLE': return typeof value === 'string' && !value.includes('\u0000');
    default: return Number.isSafeInteger(value); // PRICE, PUBLISHED_YEAR: integer columns
  }
}

export const ID_DESC = (table: string): SortSpec => ({ name: `${table}.ID.DESC`, expression: 'id', direction: 'DESC' });

/** An account's favorites: most recently added first (the favorite's id; the cursor's id is the book's). */
export const FAVORITES_ORDER: SortSpec = { name: 'favorite.ADDED.DESC', expression: 'f.id', direction: 'DESC' };
