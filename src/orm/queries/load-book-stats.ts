import type { SqlEntityManager } from '@mikro-orm/sql';
import type { BookStats } from '../../catalog/rows.ts';

/** Review count and rating sum of many books in one grouped query; books without reviews get zeros. */
export async function loadBookStats(em: SqlEntityManager, bookIds: readonly number[]): Promise<BookStats[]> {
  if (bookIds.length === 0) return [];
  const unique = [...new Set(bookIds)];
  const rows = await em.execute<{ book_id: unknown; n: unknown; total: unknown }[]>(
    `SELECT book_id, COUNT(*) AS n, SUM(rating) AS total FROM review
     WHERE book_id IN (${unique.map(() => '?').join(', ')}) GROUP BY book_id`,
    unique,
  );
  const byBook = new Map(rows.map((r) => [Number(r.book_id), { count: Number(r.n), ratingSum: Number(r.total) }]));
  return bookIds.map((id) => byBook.get(id) ?? { count: 0, ratingSum: 0 });
}
