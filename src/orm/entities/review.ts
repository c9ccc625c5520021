import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Book } from './book.ts';

export const Review = defineEntity({
  name: 'Review',
  tableName: 'review',
  properties: {
    id: p.integer().primary().autoincrement(),
    rating: p.integer(),
    body: p.text().nullable(),
    book: () => p.manyToOne(Book).deleteRule('cascade').index(),
    // The database default serves plain-SQL inserts; onCreate gives ORM inserts the value without a reload.
    createdAt: p.datetime().defaultRaw('current_timestamp').onCreate(() => new Date()),
  },
});

export type IReview = InferEntity<typeof Review>;
