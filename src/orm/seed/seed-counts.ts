/** How many rows seedCatalog inserts; kept apart so the seed CLI can validate without loading the ORM. */
export interface SeedCounts {
  authors: number;
  books: number;
  reviews: number;
}

/** Throws a TypeError naming the rule and showing the bad count. */
export function assertSeedCounts(counts: SeedCounts): void {
  for (const key of ['authors', 'books', 'reviews'] as const) {
    if (!Number.isSafeInteger(counts[key]) || counts[key] < 0) {
      throw new TypeError(`seed counts must be non-negative integers, got ${key}=${String(counts[key])}.`);
    }
  }
  if (counts.books > 0 && counts.authors === 0) {
    throw new TypeError(`seeding ${counts.books} books needs at least one author, got authors=0.`);
  }
  if (counts.reviews > 0 && counts.books === 0) {
    throw new TypeError(`seeding ${counts.reviews} reviews needs at least one book, got books=0.`);
  }
}
