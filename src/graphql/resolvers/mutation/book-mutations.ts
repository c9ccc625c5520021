import { LockMode } from '@mikro-orm/core';
import { encodeValue } from '../../../cache/read-through-loader.ts';
import { bookChanged, booksDeleted } from '../../../catalog/change-evictions.ts';
import type { BookRow } from '../../../catalog/rows.ts';
import { bookKeysOf } from '../../../orm/change-feed/change-events.ts';
import { Author, Book } from '../../../orm/entities/index.ts';
import { bookRow } from '../../../orm/entity-rows.ts';
import { loadCascade } from '../../../orm/queries/load-cascade.ts';
import type { MutationResolvers } from '../../generated/resolvers-types.ts';
import { idOf, integer, LIMITS, missing, text, uniqueIsbn } from './input.ts';
import { withOwnCommits, writingThrough } from './own-commit.ts';

const year = (value: number | null | undefined) =>
  value === null || value === undefined ? null : integer(value, 'publishedYear', ...LIMITS.publishedYear);

export const bookMutations: Pick<MutationResolvers, 'createBook' | 'updateBook' | 'deleteBook'> = {
  createBook: (_, { input }, context) =>
    context.invalidator.unitOfWork(async (evictions) => {
      const authorId = idOf('Author', input.authorId, 'authorId');
      const data = {
        title: text(input.title, 'title', LIMITS.title),
        isbn: text(input.isbn, 'isbn', LIMITS.isbn),
        priceCents: integer(input.priceCents, 'priceCents', ...LIMITS.priceCents),
        publishedYear: year(input.publishedYear),
      };
      // Invalidated once, by this unit of work: the change feed skips the insert's notification.
      const row = await uniqueIsbn(data.isbn, () => withOwnCommits(context, evictions, (register) =>
        context.em.transactional(async (tx) => {
          const author = (await tx.findOne(Author, authorId)) ?? missing('Author', input.authorId);
          const book = tx.create(Book, { ...data, author });
          await tx.flush();
          const row = bookRow(book);
          register({ table: 'book', old: null, new: bookKeysOf(row) });
          return row;
        })));
      bookChanged(evictions, null, row); // every book order, and the author's lists
      return row;
    }),

  updateBook: (_, { id, input }, context) =>
    context.invalidator.unitOfWork(async (evictions) => {
      const bookId = idOf('Book', id);
      const newAuthorId = input.authorId != null ? idOf('Author', input.authorId, 'authorId') : null;
      const changes = {
        ...(input.title != null ? { title: text(input.title, 'title', LIMITS.title) } : {}),
        ...(input.isbn != null ? { isbn: text(input.isbn, 'isbn', LIMITS.isbn) } : {}),
        ...(input.priceCents != null ? { priceCents: integer(input.priceCents, 'priceCents', ...LIMITS.priceCents) } : {}),
        ...(input.publishedYear !== undefined ? { publishedYear: year(input.publishedYear) } : {}),
      };
      // Write-through (see GraphQLContext.writeThrough): the clock before our COMMIT guards the row
      // we fill; the row is read locked, so what we hold after the flush is the row as committed.
      const through = writingThrough(context);
      const guardClock = through ? await context.invalidator.clock() : 0;
      let registered = false;
      const [before, after] = await uniqueIsbn(changes.isbn, () => withOwnCommits(context, evictions, (register) =>
        context.em.transactional(async (tx) => {
          const book = (await tx.findOne(Book, bookId, through ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {})) ?? missing('Book', id);
          const before = bookRow(book);
          tx.assign(book, changes);
          if (newAuthorId !== null && newAuthorId !== before.authorId) {
            book.author = (await tx.findOne(Author, newAuthorId)) ?? missing('Author', input.authorId!);
          }
          await tx.flush();
          const after = bookRow(book);
          // Registered before COMMIT, and only for a row the flush updated (else no notification comes).
          if (through && !sameRow(before, after)) registered = register({ table: 'book', old: bookKeysOf(before), new: bookKeysOf(after) });
          return [before, after] as const;
        })));
      // The book's key; the orders whose sort field changed; both authors' lists when it moved.
      bookChanged(evictions, before, after);
      if (registered) evictions.fill('Book', after.id, encodeValue(after), through!.ttlOf('Book'), guardClock);
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

function sameRow(a: BookRow, b: BookRow): boolean {
  return a.title === b.title && a.isbn === b.isbn && a.priceCents === b.priceCents && a.publishedYear === b.publishedYear && a.authorId === b.authorId;
}
