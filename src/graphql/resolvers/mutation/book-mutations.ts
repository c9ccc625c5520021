import { bookChanged, booksDeleted } from '../../../catalog/change-evictions.ts';
import { Author, Book } from '../../../orm/entities/index.ts';
import { bookRow } from '../../../orm/entity-rows.ts';
import { loadCascade } from '../../../orm/queries/load-cascade.ts';
import type { MutationResolvers } from '../../generated/resolvers-types.ts';
import { idOf, integer, LIMITS, missing, text, uniqueIsbn } from './input.ts';

const year = (value: number | null | undefined) =>
  value === null || value === undefined ? null : integer(value, 'publishedYear', ...LIMITS.publishedYear);

export const bookMutations: Pick<MutationResolvers, 'createBook' | 'updateBook' | 'deleteBook'> = {
  createBook: (_, { input }, { em, invalidator }) =>
    invalidator.unitOfWork(async (evictions) => {
      const authorId = idOf('Author', input.authorId, 'authorId');
      const data = {
        title: text(input.title, 'title', LIMITS.title),
        isbn: text(input.isbn, 'isbn', LIMITS.isbn),
        priceCents: integer(input.priceCents, 'priceCents', ...LIMITS.priceCents),
        publishedYear: year(input.publishedYear),
      };
      const row = await uniqueIsbn(data.isbn, () =>
        em.transactional(async (tx) => {
          const author = (await tx.findOne(Author, authorId)) ?? missing('Author', input.authorId);
          const book = tx.create(Book, { ...data, author });
          await tx.flush();
          return bookRow(book);
        }),
      );
      bookChanged(evictions, null, row); // every book order, and the author's lists
      return row;
    }),

  updateBook: (_, { id, input }, { em, invalidator }) =>
    invalidator.unitOfWork(async (evictions) => {
      const bookId = idOf('Book', id);
      const newAuthorId = input.authorId != null ? idOf('Author', input.authorId, 'authorId') : null;
      const changes = {
        ...(input.title != null ? { title: text(input.title, 'title', LIMITS.title) } : {}),
        ...(input.isbn != null ? { isbn: text(input.isbn, 'isbn', LIMITS.isbn) } : {}),
        ...(input.priceCents != null ? { priceCents: integer(input.priceCents, 'priceCents', ...LIMITS.priceCents) } : {}),
        ...(input.publishedYear !== undefined ? { publishedYear: year(input.publishedYear) } : {}),
      };
      const [before, after] = await uniqueIsbn(changes.isbn, () =>
        em.transactional(async (tx) => {
          const book = (await tx.findOne(Book, bookId)) ?? missing('Book', id);
          const before = bookRow(book);
          tx.assign(book, changes);
          if (newAuthorId !== null && newAuthorId !== before.authorId) {
            book.author = (await tx.findOne(Author, newAuthorId)) ?? missing('Author', input.authorId!);
          }
          await tx.flush();
          return [before, bookRow(book)] as const;
        }),
      );
      // The book's key; the orders whose sort field changed; both authors' lists when it moved.
      bookChanged(evictions, before, after);
      return after;
    }),

  deleteBook: (_, { id }, { em, invalidator }) =>
    invalidator.unitOfWork(async (evictions) => {
      const bookId = idOf('Book', id);
      await em.transactional(async (tx) => {
        const book = (await tx.findOne(Book, bookId)) ?? missing('Book', id);
        const cascade = await loadCascade(tx, { bookIds: [bookId] });
        tx.remove(book);
        await tx.flush();
        // The book, every list it was in, its reviews list and the reviews cascaded with it.
        booksDeleted(evictions, cascade.books, cascade.reviewIdsByBook, cascade.favoritedBy);
      });
      return id;
    }),
};
