import type { AuthorRow, BookRow, ReviewRow } from '../catalog/rows.ts';
import { toIsoString } from '../catalog/rows.ts';
import type { IAuthor, IBook, IReview } from './entities/index.ts';

/** Managed entities → the cached row shape (relations by id only: they need not be loaded). */
export function authorRow(a: IAuthor): AuthorRow {
  return { id: a.id, name: a.name, bio: a.bio ?? null };
}

export function bookRow(b: IBook): BookRow {
  return {
    id: b.id,
    title: b.title,
    isbn: b.isbn,
    priceCents: b.priceCents,
    publishedYear: b.publishedYear ?? null,
    authorId: b.author.id,
  };
}

export function reviewRow(r: IReview): ReviewRow {
  return { id: r.id, rating: r.rating, body: r.body ?? null, bookId: r.book.id, createdAt: toIsoString(r.createdAt) };
}
