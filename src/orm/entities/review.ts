import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Book } from './book.ts';

export const Review = defineEntity({
  name: 'Review',
  tableName: 'review',
  properties: {
    id: p.integer().primary().autoincrement(),
    rating: p.integer(),
    body: p.text().nullable(),
    book: () => p.manyToOne(Book).deleteRule('cascade'),
    // The database default serves plain-SQL inserts; onCreate gives ORM inserts the value without a reload.
    createdAt: p.datetime().defaultRaw('current_timestamp').onCreate(() => new Date()),
  },
  // A book's reviews, newest first, `book_id = ? AND id < ? ORDER BY id DESC LIMIT n`, read in
  // order from this index (it also serves the foreign key's lookups): with the book_id index
  // alone, every page sorted all of the book's reviews.
  indexes: [{ properties: ['book', 'id'] }],
});

export type IReview = InferEntity<typeof Review>;
