import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Account } from './account.ts';
import { Book } from './book.ts';

/**
 * A book an account marked as favorite. Deleting either side deletes the favorite (ON DELETE
 * CASCADE in the schema); a book is a favorite of an account at most once.
 */
export const Favorite = defineEntity({
  name: 'Favorite',
  tableName: 'favorite',
  uniques: [{ properties: ['account', 'book'] }],
  properties: {
    id: p.integer().primary().autoincrement(),
    account: () => p.manyToOne(Account).deleteRule('cascade'),
    book: () => p.manyToOne(Book).deleteRule('cascade').index(),
    createdAt: p.datetime().defaultRaw('current_timestamp').onCreate(() => new Date()),
  },
});

export type IFavorite = InferEntity<typeof Favorite>;
