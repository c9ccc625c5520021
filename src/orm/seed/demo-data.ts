import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import { Author } from '../entities/index.ts';
import { seedCatalog, type SeedCounts } from './seed-catalog.ts';

export const demoCounts: SeedCounts = { authors: 10, books: 50, reviews: 150 };

/**
 * Seeds a small catalog when there is no author yet; returns whether it did.
 * Two processes starting on the same empty database both try: the second one's insert hits
 * `book.isbn`'s unique index (same seed, same ISBNs), rolls back, and reports false.
 */
export async function seedDemoIfEmpty(orm: { em: EntityManager }): Promise<boolean> {
  if ((await orm.em.fork().count(Author)) > 0) {
    return false;
  }
  try {
    await seedCatalog(orm, demoCounts);
    return true;
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) {
      return false;
    }
    throw error;
  }
}
