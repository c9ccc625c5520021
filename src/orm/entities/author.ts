import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Book } from './book.ts';

export const Author = defineEntity({
  name: 'Author',
  tableName: 'author',
  properties: {
    id: p.integer().primary().autoincrement(),
    name: p.string(),
    bio: p.text().nullable(),
    // Lazy builder: book.ts imports this module too, so the target is resolved on first use.
    books: () => p.oneToMany(Book).mappedBy('author'),
  },
});

export type IAuthor = InferEntity<typeof Author>;
