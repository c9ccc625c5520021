import type { EntityManager } from '@mikro-orm/core';
import { SqlitePlatform } from '@mikro-orm/sql';

/**
 * Deletes every author, book and review and restarts their id sequences, so a following
 * seedCatalog produces the same ids as on a fresh database.
 */
export async function resetCatalog(orm: { em: EntityManager }): Promise<void> {
  const statements =
    orm.em.getPlatform() instanceof SqlitePlatform
      ? [
          'delete from review',
          'delete from book',
          'delete from author',
          // AUTOINCREMENT keeps its high-water mark here, not in the tables.
          "delete from sqlite_sequence where name in ('review', 'book', 'author')",
        ]
      : ['truncate table review, book, author restart identity'];
  await orm.em.fork().transactional(async (em) => {
    for (const sql of statements) {
      await em.getConnection().execute(sql, [], 'run', em.getTransactionContext());
    }
  });
}
