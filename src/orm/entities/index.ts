/**
 * Entities are `defineEntity()` schemas without classes: `Author`, `Book`, `Review` are the values
 * to pass to `em.find`/`em.create`, and `IAuthor`, `IBook`, `IReview` are the inferred entity types.
 * Relations are plain entity references (not `Ref<>` wrappers): `book.author.id` is always readable,
 * other fields of an unloaded relation are not.
 */
import { Account } from './account.ts';
import { Author } from './author.ts';
import { Book } from './book.ts';
import { Favorite } from './favorite.ts';
import { Review } from './review.ts';

export { Account, Author, Book, Favorite, Review };
export type { IAccount } from './account.ts';
export type { IAuthor } from './author.ts';
export type { IBook } from './book.ts';
export type { IFavorite } from './favorite.ts';
export type { IReview } from './review.ts';

export const entities = [Author, Book, Review, Account, Favorite];
