import type { SqlEntityManager } from '@mikro-orm/sql';
import type { SqlRow } from '../../catalog/rows.ts';
import type { ListTable } from '../../catalog/page.ts';

/**
 * One `SELECT … WHERE id IN (…)` for all ids, answered in the order asked (null: no such row).
 * Plain SQL rather than em.find: the read path wants rows, not managed entities in an identity map.
 */
export async function loadRowsById<T>(
  em: SqlEntityManager,
  table: ListTable | 'account',
  ids: readonly number[],
  fromSql: (row: SqlRow) => T & { id: number },
  /** The columns to read: a table may hold what must never reach the cache (a password hash). */
  columns = '*',
): Promise<(T | null)[]> {
  if (ids.length === 0) return [];
  const unique = [...new Set(ids)];
  const rows = await em.execute<SqlRow[]>(
    `SELECT ${columns} FROM ${table} WHERE id IN (${unique.map(() => '?').join(', ')})`,
    unique,
  );
  const byId = new Map(rows.map((r) => {
    const row = fromSql(r);
    return [row.id, row] as const;
  }));
  return ids.map((id) => byId.get(id) ?? null);
}
