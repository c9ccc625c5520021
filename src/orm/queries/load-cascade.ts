import type { SqlEntityManager } from '@mikro-orm/sql';
import type { BookFacts } from '../../catalog/change-evictions.ts';
import { bookFromSql, type SqlRow } from '../../catalog/rows.ts';

/** The rows that ON DELETE CASCADE will remove with some authors and books. */
export interface Cascade {
  readonly books: readonly BookFacts[];
  readonly reviewIdsByBook: ReadonlyMap<number, readonly number[]>;
  /** Accounts that had one of the books as a favorite (the favorites cascade too). */
  readonly favoritedBy: readonly number[];
}

/**
 * Reads, before the delete, what the database's cascade is about to remove: the ORM sees only the
 * rows it deletes itself, but every removed book and review has cache keys to evict.
 */
export async function loadCascade(
  em: SqlEntityManager,
  deleted: { authorIds?: readonly number[]; bookIds?: readonly number[] },
): Promise<Cascade> {
  const authorIds = deleted.authorIds ?? [];
  const bookIds = deleted.bookIds ?? [];
  const where: string[] = [];
  if (authorIds.length > 0) where.push(`author_id IN (${authorIds.map(() => '?').join(', ')})`);
  if (bookIds.length > 0) where.push(`id IN (${bookIds.map(() => '?').join(', ')})`);
  if (where.length === 0) return { books: [], reviewIdsByBook: new Map(), favoritedBy: [] };

  const books = (await em.execute<SqlRow[]>(`SELECT * FROM book WHERE ${where.join(' OR ')}`, [...authorIds, ...bookIds])).map(bookFromSql);
  const reviewIdsByBook = new Map<number, number[]>(books.map((b) => [b.id, []]));
  if (books.length > 0) {
    const reviews = await em.execute<{ id: unknown; book_id: unknown }[]>(
      `SELECT id, book_id FROM review WHERE book_id IN (${books.map(() => '?').join(', ')})`,
      books.map((b) => b.id),
    );
    for (const r of reviews) reviewIdsByBook.get(Number(r.book_id))?.push(Number(r.id));
  }
  const favoritedBy = books.length === 0 ? [] : (await em.execute<{ account_id: unknown }[]>(
    `SELECT DISTINCT account_id FROM favorite WHERE book_id IN (${books.map(() => '?').join(', ')})`,
    books.map((b) => b.id),
  )).map((r) => Number(r.account_id));
  return { books, reviewIdsByBook, favoritedBy };
}
