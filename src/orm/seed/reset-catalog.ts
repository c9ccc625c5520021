import type { EntityManager } from '@mikro-orm/core';
import { SqlitePlatform } from '@mikro-orm/sql';

/**
 * Deletes every author, book and review and restarts their id sequences, so a following
 * seedCatalog produces the same ids as on a fresh database. Favorites name books, so they go too
 * (as ON DELETE CASCADE would remove them); accounts stay.
 */
export async function resetCatalog(orm: { em: EntityManager }): Promise<void> {
  const statements =
    orm.em.getPlatform() instanceof SqlitePlatform
      ? [
          'delete from favorite',
          'delete from review',
          'delete from book',
          'delete from author',
          // AUTOINCREMENT keeps its high-water mark here, not in the tables.
          "delete from sqlite_sequence where name in ('favorite', 'review', 'book', 'author')",
        ]
      : ['truncate table favorite, review, book, author restart identity'];
  await orm.em.fork().transactional(async (em) => {
    for (const sql of statements) {
      await em.getConnection().execute(sql, [], 'run', em.getTransactionContext());
    }
  });
}
