import { authorChanged, booksDeleted } from '../../../catalog/change-evictions.ts';
import { Author } from '../../../orm/entities/index.ts';
import { authorRow } from '../../../orm/entity-rows.ts';
import { loadCascade } from '../../../orm/queries/load-cascade.ts';
import type { MutationResolvers } from '../../generated/resolvers-types.ts';
import { idOf, LIMITS, missing, optionalText, text } from './input.ts';

/**
 * Each mutation runs as one unit of work: its transaction commits first, then the evictions it
 * names (merged with whatever the ORM subscriber saw) go out in one Redis round trip.
 */
export const authorMutations: Pick<MutationResolvers, 'createAuthor' | 'updateAuthor' | 'deleteAuthor'> = {
  createAuthor: (_, { input }, { em, invalidator }) =>
    invalidator.unitOfWork(async (evictions) => {
      const data = { name: text(input.name, 'name', LIMITS.name), bio: optionalText(input.bio, 'bio', LIMITS.bio) };
      const row = await em.transactional(async (tx) => {
        const author = tx.create(Author, data);
        await tx.flush();
        return authorRow(author);
      });
      authorChanged(evictions, null, row); // the authors list
      return row;
    }),

  updateAuthor: (_, { id, input }, { em, invalidator }) =>
    invalidator.unitOfWork(async (evictions) => {
      const authorId = idOf('Author', id);
      const changes = {
        ...(input.name != null ? { name: text(input.name, 'name', LIMITS.name) } : {}),
        ...(input.bio !== undefined ? { bio: optionalText(input.bio, 'bio', LIMITS.bio) } : {}),
      };
      const row = await em.transactional(async (tx) => {
        const author = (await tx.findOne(Author, authorId)) ?? missing('Author', id);
        tx.assign(author, changes);
        await tx.flush();
        return authorRow(author);
      });
      authorChanged(evictions, row, row); // its entity key only: no list is ordered by name or bio
      return row;
    }),

  deleteAuthor: (_, { id }, { em, invalidator }) =>
    invalidator.unitOfWork(async (evictions) => {
      const authorId = idOf('Author', id);
      await em.transactional(async (tx) => {
        const author = (await tx.findOne(Author, authorId)) ?? missing('Author', id);
        const cascade = await loadCascade(tx, { authorIds: [authorId] });
        tx.remove(author);
        await tx.flush();
        // The author, its lists, and everything ON DELETE CASCADE removed with it.
        authorChanged(evictions, { id: authorId }, null);
        booksDeleted(evictions, cascade.books, cascade.reviewIdsByBook, cascade.favoritedBy);
      });
      return id;
    }),
};
