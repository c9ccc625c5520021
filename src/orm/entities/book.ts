import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Author } from './author.ts';
import { Review } from './review.ts';

export const Book = defineEntity({
  name: 'Book',
  tableName: 'book',
  properties: {
    id: p.integer().primary().autoincrement(),
    title: p.string(),
    isbn: p.string().unique(),
    priceCents: p.integer(),
    publishedYear: p.integer().nullable(),
    // ON DELETE CASCADE lives in the schema so that plain-SQL deletes cascade too.
    author: () => p.manyToOne(Author).deleteRule('cascade'),
    reviews: () => p.oneToMany(Review).mappedBy('book'),
  },
  // Keyset pages of the whole catalog by price or title, `(sort, id) > (?, ?) ORDER BY sort, id`,
  // read these in order (either direction) instead of sorting every book for every page.
  // An author's books, `author_id = ? … ORDER BY id DESC`, the same way (and the foreign key's lookups).
  indexes: [
    { properties: ['priceCents', 'id'] },
    { properties: ['title', 'id'] },
    { properties: ['author', 'id'] },
  ],
});

export type IBook = InferEntity<typeof Book>;
