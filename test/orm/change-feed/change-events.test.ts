import { evictionsForChanges, toChangeEvent, type BookKeys, type ChangeEvent } from '../../../src/orm/change-feed/change-events.ts';
import { parseNotification } from '../../../src/orm/change-feed/pg-change-listener.ts';

const book = (changes: Partial<BookKeys> = {}): BookKeys => ({
  id: 42, author_id: 7, title: 'Dune', price_cents: 999, published_year: 1965, ...changes,
});
const describeOf = (...events: ChangeEvent[]) => evictionsForChanges(events).describe();
const allOrders = (prefix: string) => ['ID', 'PRICE', 'PUBLISHED_YEAR', 'TITLE'].map((field) => `${prefix}.${field}`);

// The database reports rows; the same rules as the resolvers and the ORM subscriber decide what is stale.
describe('evictionsForChanges', () => {
  it("evicts a book and the title-ordered lists when a book's title changes", () => {
    expect(describeOf({ table: 'book', old: book(), new: book({ title: 'Dune Messiah' }) })).toEqual({
      entities: ['Book:42'], families: ['author.7.books.TITLE', 'books.TITLE'], ranges: [],
    });
  });

  it('evicts a book and names the old and new sort values of the numeric orders when its price or year changes', () => {
    expect(describeOf({ table: 'book', old: book(), new: book({ price_cents: 1250, published_year: null }) })).toEqual({
      entities: ['Book:42'], families: [],
      ranges: ['author.7.books.PRICE@1250', 'author.7.books.PRICE@999', 'author.7.books.PUBLISHED_YEAR@-2147483648', 'author.7.books.PUBLISHED_YEAR@1965',
        'books.PRICE@1250', 'books.PRICE@999', 'books.PUBLISHED_YEAR@-2147483648', 'books.PUBLISHED_YEAR@1965'],
    });
    // Moved too: the authors' lists change members (bumped whole); the global lists only reorder.
    const moved = describeOf({ table: 'book', old: book(), new: book({ author_id: 8, price_cents: 1250 }) });
    expect(moved.families).toEqual([...allOrders('author.7.books'), ...allOrders('author.8.books')]);
    expect(moved.ranges).toEqual(['books.PRICE@1250', 'books.PRICE@999']);
  });

  it('evicts only the book when a field no list orders by changes (isbn: same key fields)', () => {
    expect(describeOf({ table: 'book', old: book(), new: book() })).toEqual({ entities: ['Book:42'], families: [], ranges: [] });
  });

  it("refreshes both authors' lists when a book moves", () => {
    expect(describeOf({ table: 'book', old: book(), new: book({ author_id: 8 }) }).families)
      .toEqual([...allOrders('author.7.books'), ...allOrders('author.8.books')]);
  });

  it("evicts a deleted book, its aggregate and reviews list, but names no review: they arrive as their own deletes", () => {
    expect(describeOf({ table: 'book', old: book(), new: null })).toEqual({
      entities: ['Book:42', 'BookStats:42'],
      families: ['author.7.books.ID', 'author.7.books.PRICE', 'author.7.books.PUBLISHED_YEAR', 'author.7.books.TITLE',
        'book.42.reviews', ...allOrders('books')],
      ranges: [],
    });
  });

  it("refreshes a book's aggregate and reviews on a new review, and only the aggregate on a new rating", () => {
    const review = { id: 5, book_id: 42, rating: 3 };
    expect(describeOf({ table: 'review', old: null, new: review })).toEqual({
      entities: ['BookStats:42', 'Review:5'], families: ['book.42.reviews'], ranges: [],
    });
    expect(describeOf({ table: 'review', old: review, new: { ...review, rating: 4 } })).toEqual({
      entities: ['BookStats:42', 'Review:5'], families: [], ranges: [],
    });
  });

  it("evicts an author, the authors list and the author's own book lists on delete; only the author on update", () => {
    expect(describeOf({ table: 'author', old: { id: 7 }, new: null })).toEqual({
      entities: ['Author:7'], families: ['author.7.books.ID', 'author.7.books.PRICE', 'author.7.books.PUBLISHED_YEAR', 'author.7.books.TITLE', 'authors'], ranges: [],
    });
    expect(describeOf({ table: 'author', old: { id: 7 }, new: { id: 7 } })).toEqual({ entities: ['Author:7'], families: [], ranges: [] });
  });

  it("evicts an account on any change, and refreshes the favorites lists a favorite leaves or joins", () => {
    expect(describeOf({ table: 'account', old: { id: 5 }, new: { id: 5 } })).toEqual({ entities: ['Account:5'], families: [], ranges: [] });
    expect(describeOf({ table: 'account', old: { id: 5 }, new: null })).toEqual({ entities: ['Account:5'], families: ['account.5.favorites'], ranges: [] });
    expect(describeOf({ table: 'favorite', old: null, new: { id: 1, account_id: 5, book_id: 9 } }))
      .toEqual({ entities: [], families: ['account.5.favorites'], ranges: [] });
    expect(describeOf({ table: 'favorite', old: { id: 1, account_id: 5, book_id: 9 }, new: { id: 1, account_id: 6, book_id: 9 } }).families)
      .toEqual(['account.5.favorites', 'account.6.favorites']);
    expect(() => toChangeEvent('account', { id: 5, password_hash: 'x' }, null)).not.toThrow();
    expect(toChangeEvent('account', { id: 5, password_hash: 'x' }, null)).toEqual({ table: 'account', old: { id: 5 }, new: null });
  });

  it('merges a whole cascade into one set, duplicates collapsed', () => {
    const evictions = evictionsForChanges([
      { table: 'author', old: { id: 7 }, new: null },
      { table: 'book', old: book(), new: null },
      { table: 'review', old: { id: 5, book_id: 42, rating: 3 }, new: null },
      { table: 'review', old: { id: 6, book_id: 42, rating: 1 }, new: null },
    ]);
    expect(evictions.describe().entities).toEqual(['Author:7', 'Book:42', 'BookStats:42', 'Review:5', 'Review:6']);
    expect(evictions.describe().families).toContain('book.42.reviews');
    expect(evictions.size).toBe(5 + 10); // 4 author lists + authors + 4 global + book.42.reviews
  });
});

describe('toChangeEvent', () => {
  it('reads the snake_case key fields of each table', () => {
    expect(toChangeEvent('review', null, { id: 1, book_id: 2, rating: 5, extra: 'ignored' }))
      .toEqual({ table: 'review', old: null, new: { id: 1, book_id: 2, rating: 5 } });
    expect(toChangeEvent('book', book({ published_year: null }), null)).toEqual({ table: 'book', old: book({ published_year: null }), new: null });
  });

  it('refuses what the triggers never send, naming the field and showing the value', () => {
    expect(() => toChangeEvent('publisher', { id: 1 }, null)).toThrow('table must be author, book, review, account or favorite, got "publisher"');
    expect(() => toChangeEvent('book', { ...book(), price_cents: '999' }, null)).toThrow('price_cents must be an integer, got "999"');
    expect(() => toChangeEvent('book', { ...book(), title: null }, null)).toThrow('book.title must be a string, got null');
    expect(() => toChangeEvent('author', null, null)).toThrow('old and new row are both null');
  });
});

describe('parseNotification', () => {
  it("reads a trigger's payload: table, operation, clock and row pairs", () => {
    const item = parseNotification('{"table":"review","op":"DELETE","at":1795629119591.226,"rows":[[{"id":1,"book_id":1,"rating":1},null]]}');
    expect(item).toEqual({ at: 1795629119591.226, truncate: false, events: [{ table: 'review', old: { id: 1, book_id: 1, rating: 1 }, new: null }] });
  });

  it('recognises TRUNCATE (no rows: the listener retires the cache) and its own sync markers', () => {
    expect(parseNotification('{"table":"book","op":"TRUNCATE","at":1,"rows":[]}')).toEqual({ at: 1, truncate: true, events: [] });
    expect(parseNotification('{"sync":"abc"}')).toEqual({ sync: 'abc' });
  });

  it('refuses a malformed payload with a TypeError', () => {
    expect(() => parseNotification('not json')).toThrow(TypeError);
    expect(() => parseNotification('{"table":"book","op":"UPDATE","rows":[]}')).toThrow('expected {table, op, at, rows}');
    expect(() => parseNotification('{"table":"book","op":"UPDATE","at":1,"rows":[[null]]}')).toThrow('a row must be [old, new]');
  });
});
