import { Faker, base, en } from '@faker-js/faker';
import type { EntityDictionary, EntityManager, EntityName, RequiredEntityData } from '@mikro-orm/core';
import { Author, Book, Review } from '../entities/index.ts';
import { assertSeedCounts, type SeedCounts } from './seed-counts.ts';

export { assertSeedCounts, type SeedCounts };

/** Rows per INSERT statement: large enough to amortise round trips, small enough for any driver. */
const chunkSize = 1000;

/** Reviews are dated from here on, one minute apart, so creation time grows with id. */
const firstReviewAt = Date.UTC(2020, 0, 1);

/**
 * Appends `counts` rows in one transaction with multi-row inserts (no managed entities, so no
 * entity events fire). The same seed on an empty database gives the same rows, ids included.
 * ISBNs are unique within one call; seeding twice with the same seed collides on `book.isbn`.
 */
export async function seedCatalog(
  orm: { em: EntityManager },
  counts: SeedCounts,
  seed = 42,
): Promise<SeedCounts> {
  assertSeedCounts(counts);
  // A private instance: the shared `faker` would make the output depend on other callers.
  const faker = new Faker({ locale: [en, base], seed });

  await orm.em.fork().transactional(async (em) => {
    const authorIds = await insertChunked(em, Author, counts.authors, () => ({
      name: faker.person.fullName(),
      bio: faker.datatype.boolean(0.3) ? null : faker.lorem.sentences({ min: 1, max: 3 }),
    }));
    const bookIds = await insertChunked(em, Book, counts.books, (i) => ({
      title: faker.book.title(),
      isbn: isbn13(seed, i),
      priceCents: faker.number.int({ min: 299, max: 9999 }),
      publishedYear: faker.datatype.boolean(0.15) ? null : faker.number.int({ min: 1950, max: 2025 }),
      author: faker.helpers.arrayElement(authorIds),
    }));
    await insertChunked(em, Review, counts.reviews, (i) => ({
      rating: faker.number.int({ min: 1, max: 5 }),
      body: faker.datatype.boolean(0.2) ? null : faker.lorem.sentences({ min: 1, max: 2 }),
      book: faker.helpers.arrayElement(bookIds),
      createdAt: new Date(firstReviewAt + i * 60_000 + faker.number.int(59_999)),
    }));
  });
  return { ...counts };
}

async function insertChunked<T extends object>(
  em: EntityManager,
  entity: EntityName<T>,
  count: number,
  row: (index: number) => RequiredEntityData<T>,
): Promise<number[]> {
  const ids: number[] = [];
  for (let start = 0; start < count; start += chunkSize) {
    const rows = Array.from({ length: Math.min(chunkSize, count - start) }, (_, k) => row(start + k));
    // Not em.insertMany: in MikroORM 7.2.1 it returns only the first id of a multi-row insert.
    const result = await em.getDriver().nativeInsertMany(entity, rows as EntityDictionary<T>[], { ctx: em.getTransactionContext() });
    // RETURNING order is not promised; ids of one statement ascend in VALUES order, so sorting restores it.
    ids.push(...(result.rows ?? []).map((r) => Number(r.id)).sort((a, b) => a - b));
  }
  if (ids.length !== count) {
    throw new Error(`inserting ${count} rows returned ${ids.length} ids`);
  }
  return ids;
}

/**
 * A valid ISBN-13 that is unique per (seed, index): the 9-digit body is a bijection of the index
 * (multiplying by a number coprime to 10^9), offset by the seed so it does not look sequential.
 */
function isbn13(seed: number, index: number): string {
  const body = (BigInt(index) * 387_420_489n + BigInt(seed) * 7_919n) % 1_000_000_000n;
  const digits = `978${body.toString().padStart(9, '0')}`;
  let sum = 0;
  for (let i = 0; i < 12; i++) {
    sum += Number(digits[i]) * (i % 2 === 0 ? 1 : 3);
  }
  return `${digits}${(10 - (sum % 10)) % 10}`;
}
