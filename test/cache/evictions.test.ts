import { Evictions } from '../../src/cache/evictions.ts';
import { createInvalidator } from '../../src/cache/invalidator.ts';
import { createKeyspace } from '../../src/cache/keyspace.ts';
import { createNullStore } from '../../src/cache/null-store.ts';

describe('Evictions.without', () => {
  it('keeps only the entities, families and range values the other set does not already evict', () => {
    const wanted = new Evictions().entity('Book', 1).entity('Book', 2).family('books.ID').family('author.1.books.ID')
      .reorder('books.PRICE', 100, 200).reorder('author.1.books.PRICE', 100, 200).reorder('books.TITLE', 5, 5);
    const done = new Evictions().entity('Book', 1).family('books.ID').family('author.1.books.PRICE').reorder('books.PRICE', 100, 300);
    expect(wanted.without(done).describe()).toEqual({
      entities: ['Book:2'],
      families: ['author.1.books.ID'],
      // 100 is done for books.PRICE; author.1.books.PRICE was bumped whole; books.TITLE untouched.
      ranges: ['books.PRICE@200', 'books.TITLE@5'],
    });
  });

  it('is empty when the other set covers everything, and everything when the other set is empty', () => {
    const wanted = new Evictions().entity('Author', 3).family('authors.ID').reorder('books.PRICE', 1, 2);
    expect(wanted.without(new Evictions().merge(wanted)).size).toBe(0);
    expect(wanted.without(new Evictions().entity('Author', 3).family('authors.ID').family('books.PRICE')).size).toBe(0);
    expect(wanted.without(new Evictions()).describe()).toEqual(wanted.describe());
  });
});

describe('Invalidator.outcome', () => {
  // The null store answers every invalidation at once; what is tested is when the outcome settles.
  const invalidator = (store = createNullStore()) => createInvalidator(store, createKeyspace('t.outcome', () => 0));

  it('resolves true once the unit of work has applied, with its evictions complete', async () => {
    const inv = invalidator();
    let outcome: Promise<boolean> | undefined;
    let settledEarly = false;
    await inv.unitOfWork(async (evictions) => {
      outcome = inv.outcome(evictions);
      void outcome.then(() => { settledEarly = true; });
      evictions.entity('Book', 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(settledEarly).toBe(false);
    });
    expect(await outcome).toBe(true);
  });

  it('resolves false when the work rejects, and for a set that is not an open unit of work', async () => {
    const inv = invalidator();
    let outcome: Promise<boolean> | undefined;
    await expect(inv.unitOfWork(async (evictions) => {
      outcome = inv.outcome(evictions);
      throw new Error('rolled back');
    })).rejects.toThrow('rolled back');
    expect(await outcome).toBe(false);
    expect(await inv.outcome(new Evictions())).toBe(false);
  });

  it('resolves false when the invalidation is lost (the store refused it, retry included)', async () => {
    const inv = invalidator({ ...createNullStore(), invalidate: () => Promise.reject(new Error('Redis is down')) });
    let outcome: Promise<boolean> | undefined;
    await inv.unitOfWork(async (evictions) => {
      outcome = inv.outcome(evictions);
      evictions.family('books.ID');
    });
    expect(await outcome).toBe(false);
  });
});
