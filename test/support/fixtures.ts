import type { CatalogOrm } from '../../src/orm/open-orm.ts';

export interface Fixture {
  authors: number;
  booksPerAuthor: number;
  reviewsPerBook: number;
}

const feeds = new WeakMap<CatalogOrm, () => Promise<void>>();

/** Lets insertFixture wait for a running server's change feed to have applied the fixture's writes. */
export function settleFixturesWith(orm: CatalogOrm, settled: () => Promise<void>): void {
  feeds.set(orm, settled);
}

/**
 * A small, fully predictable catalog written with plain SQL (nothing is cached; a running server's
 * change feed sees the inserts and has applied them when this resolves): author i has books i.1..i.n, book prices and years vary, each book has
 * `reviewsPerBook` reviews with ratings cycling 1..5. Ids are assigned in insertion order from 1.
 */
export async function insertFixture(orm: CatalogOrm, { authors, booksPerAuthor, reviewsPerBook }: Fixture): Promise<void> {
  const em = orm.em.fork();
  let bookId = 0;
  for (let a = 1; a <= authors; a++) {
    await em.execute('INSERT INTO author (name, bio) VALUES (?, ?)', [`Author ${a}`, a % 2 ? `Bio of ${a}` : null]);
    for (let b = 1; b <= booksPerAuthor; b++) {
      bookId++;
      await em.execute(
        'INSERT INTO book (title, isbn, price_cents, published_year, author_id) VALUES (?, ?, ?, ?, ?)',
        [`Book ${a}.${b}`, `isbn-${a}-${b}`, 1000 + ((bookId * 7919) % 5000), bookId % 5 === 0 ? null : 1950 + (bookId % 70), a],
      );
      for (let r = 1; r <= reviewsPerBook; r++) {
        // created_at comes from the column default, as for any plain-SQL writer.
        await em.execute('INSERT INTO review (rating, body, book_id) VALUES (?, ?, ?)', [
          ((bookId + r) % 5) + 1, `Review ${r} of book ${bookId}`, bookId,
        ]);
      }
    }
  }
  await feeds.get(orm)?.();
}
