import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { favoritesChanged } from '../../../catalog/change-evictions.ts';
import type { AccountRow } from '../../../catalog/rows.ts';
import { Account, Book, Favorite } from '../../../orm/entities/index.ts';
import type { SqlEntityManager } from '@mikro-orm/sql';
import { unauthenticated } from '../../errors.ts';
import type { MutationResolvers } from '../../generated/resolvers-types.ts';
import { requireViewer } from '../viewer.ts';
import { idOf, missing } from './input.ts';

async function accountOf(tx: SqlEntityManager, accountId: number): Promise<AccountRow> {
  const account = await tx.findOne(Account, accountId, { fields: ['id', 'email'] });
  // A valid token whose account is gone: the credentials no longer name anyone.
  if (!account) throw unauthenticated('The account of this token no longer exists');
  return { id: account.id, email: account.email };
}

/**
 * Favorites are the viewer's own: each change evicts that viewer's favorites family and nothing
 * else (no Book key: a favorite changes no field of a book). Both are idempotent, and a no-op
 * evicts nothing.
 */
export const favoriteMutations: Pick<MutationResolvers, 'addFavorite' | 'removeFavorite'> = {
  addFavorite: (_, { bookId: globalId }, ctx) => {
    const { accountId } = requireViewer(ctx, 'add a favorite');
    const bookId = idOf('Book', globalId, 'bookId');
    return ctx.invalidator.unitOfWork(async (evictions) => {
      try {
        return await ctx.em.transactional(async (tx) => {
          const account = await accountOf(tx, accountId);
          if (!(await tx.findOne(Book, bookId, { fields: ['id'] }))) missing('Book', globalId);
          if ((await tx.count(Favorite, { account: accountId, book: bookId })) === 0) {
            tx.create(Favorite, { account: accountId, book: bookId });
            await tx.flush();
            favoritesChanged(evictions, accountId);
          }
          return account;
        });
      } catch (error) {
        // A concurrent addFavorite of the same book won the race: the favorite is there, as asked.
        if (error instanceof UniqueConstraintViolationException) return accountOf(ctx.em, accountId);
        throw error;
      }
    });
  },

  removeFavorite: (_, { bookId: globalId }, ctx) => {
    const { accountId } = requireViewer(ctx, 'remove a favorite');
    const bookId = idOf('Book', globalId, 'bookId');
    return ctx.invalidator.unitOfWork(async (evictions) =>
      ctx.em.transactional(async (tx) => {
        const account = await accountOf(tx, accountId);
        if ((await tx.nativeDelete(Favorite, { account: accountId, book: bookId })) > 0) {
          favoritesChanged(evictions, accountId);
        } else if (!(await tx.findOne(Book, bookId, { fields: ['id'] }))) {
          missing('Book', globalId);
        }
        return account;
      }),
    );
  },
};
