import { Author, Book, Review } from '../../src/orm/entities/index.ts';
import { openOrm, type CatalogOrm } from '../../src/orm/open-orm.ts';
import { seedDemoIfEmpty } from '../../src/orm/seed/demo-data.ts';
import { resetCatalog } from '../../src/orm/seed/reset-catalog.ts';
import { assertSeedCounts, seedCatalog, type SeedCounts } from '../../src/orm/seed/seed-catalog.ts';
import { createTestDatabase, testDrivers, type TestDriver, type TestDatabase } from '../support/database.ts';

const counts: SeedCounts = { authors: 20, books: 150, reviews: 2500 };

/** Every column of every row, in id order, as plain values comparable across drivers. */
async function dump(orm: CatalogOrm) {
  const em = orm.em.fork();
  const orderBy = { orderBy: { id: 'asc' } } as const;
  return {
    authors: (await em.find(Author, {}, orderBy)).map((a) => ({ id: a.id, name: a.name, bio: a.bio })),
    books: (await em.find(Book, {}, orderBy)).map((b) => ({
      id: b.id, title: b.title, isbn: b.isbn, priceCents: b.priceCents, publishedYear: b.publishedYear, author: b.author.id,
    })),
    reviews: (await em.find(Review, {}, orderBy)).map((r) => ({
      id: r.id, rating: r.rating, body: r.body, book: r.book.id, createdAt: r.createdAt.getTime(),
    })),
  };
}

type Dump = Awaited<ReturnType<typeof dump>>;

async function withDatabase<T>(
  driver: TestDriver,
  label: string,
  use: (orm: CatalogOrm, statements: string[]) => Promise<T>,
): Promise<T> {
  const db: TestDatabase = await createTestDatabase(driver, label);
  const statements: string[] = [];
  const orm = await openOrm({ databaseUrl: db.url, onQuery: (sql) => statements.push(sql) });
  try {
    statements.length = 0;
    return await use(orm, statements);
  } finally {
    await orm.close();
    await db.drop();
  }
}

const dumps = new Map<TestDriver, Dump>();

describe.each(testDrivers())('seedCatalog on %s', (driver) => {
  test('inserts exactly the requested rows, in one transaction of 1000-row inserts', async () => {
    const dumped = await withDatabase(driver, 'seed_counts', async (orm, statements) => {
      expect(await seedCatalog(orm, counts, 7)).toEqual(counts);
      const verbs = statements.map((sql) => sql.split(' ')[0]);
      expect(verbs).toEqual(['begin', 'insert', 'insert', 'insert', 'insert', 'insert', 'commit']);
      return dump(orm);
    });
    dumps.set(driver, dumped);
    expect([dumped.authors.length, dumped.books.length, dumped.reviews.length]).toEqual([20, 150, 2500]);
  });

  test('gives the same rows for the same seed, and other rows for another seed', async () => {
    const again = await withDatabase(driver, 'seed_again', async (orm) => {
      await seedCatalog(orm, counts, 7);
      return dump(orm);
    });
    expect(again).toEqual(dumps.get(driver));

    const other = await withDatabase(driver, 'seed_other', async (orm) => {
      await seedCatalog(orm, counts, 8);
      return dump(orm);
    });
    expect(other.books.map((b) => b.title)).not.toEqual(again.books.map((b) => b.title));
  });

  test('produces plausible data: unique ISBNs, ratings 1..5, some nulls, books and reviews spread out', () => {
    const { authors, books, reviews } = dumps.get(driver)!;
    expect(new Set(books.map((b) => b.isbn)).size).toBe(books.length);
    expect(books.every((b) => /^978\d{10}$/.test(b.isbn))).toBe(true);
    expect(new Set(reviews.map((r) => r.rating))).toEqual(new Set([1, 2, 3, 4, 5]));
    expect(authors.some((a) => a.bio === null) && authors.some((a) => a.bio !== null)).toBe(true);
    expect(books.some((b) => b.publishedYear === null) && books.some((b) => b.publishedYear !== null)).toBe(true);
    expect(new Set(books.map((b) => b.author)).size).toBeGreaterThan(authors.length / 2);
    expect(new Set(reviews.map((r) => r.book)).size).toBeGreaterThan(books.length / 2);
  });

  test('after resetCatalog, seeds the same rows and ids again', async () => {
    const reseeded = await withDatabase(driver, 'seed_reset', async (orm) => {
      await seedCatalog(orm, { authors: 3, books: 4, reviews: 5 }, 1);
      await resetCatalog(orm);
      await seedCatalog(orm, counts, 7);
      return dump(orm);
    });
    expect(reseeded).toEqual(dumps.get(driver));
  });

  test('seedDemoIfEmpty seeds a small catalog once', async () => {
    await withDatabase(driver, 'seed_demo', async (orm) => {
      expect(await seedDemoIfEmpty(orm)).toBe(true);
      expect(await seedDemoIfEmpty(orm)).toBe(false);
      const em = orm.em.fork();
      expect([await em.count(Author), await em.count(Book), await em.count(Review)]).toEqual([10, 50, 150]);
    });
  });
});

test('the same seed gives the same rows on every driver', () => {
  expect([...dumps.keys()]).toEqual(testDrivers());
  const [first, ...others] = testDrivers().map((driver) => dumps.get(driver));
  for (const other of others) {
    expect(other).toEqual(first);
  }
});

describe('assertSeedCounts', () => {
  test.each([
    [{ authors: -1, books: 0, reviews: 0 }, /non-negative integers, got authors=-1/],
    [{ authors: 1, books: 1.5, reviews: 0 }, /non-negative integers, got books=1.5/],
    [{ authors: 0, books: 1, reviews: 0 }, /books needs at least one author/],
    [{ authors: 1, books: 0, reviews: 1 }, /reviews needs at least one book/],
  ])('rejects %j', (bad, message) => {
    expect(() => assertSeedCounts(bad)).toThrow(TypeError);
    expect(() => assertSeedCounts(bad)).toThrow(message);
  });

  test('accepts an empty catalog', () => {
    expect(() => assertSeedCounts({ authors: 0, books: 0, reviews: 0 })).not.toThrow();
  });
});
