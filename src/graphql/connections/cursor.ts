import type { SortValue } from '../../catalog/page.ts';

/**
 * Opaque cursors: base64url of `[order, sortValue, id]`. The order is checked on decode, so a
 * cursor from one ordering is refused by another instead of silently paging wrongly.
 */
export function encodeCursor(order: string, value: SortValue, id: number): string {
  return Buffer.from(JSON.stringify([order, value, id])).toString('base64url');
}

/** The keyset position of a cursor, or null when it is not a cursor of this order. */
export function decodeCursor(order: string, cursor: string): { value: SortValue; id: number } | null {
  if (cursor.length === 0 || cursor.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(decoded) || decoded.length !== 3) return null;
  const [name, value, id] = decoded as unknown[];
  if (name !== order || !Number.isSafeInteger(id) || (id as number) < 1) return null;
  if (value !== null && typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) return null;
  return { value: value as SortValue, id: id as number };
}
