import { reviewChanged } from '../../../catalog/change-evictions.ts';
import { reviewKeysOf } from '../../../orm/change-feed/change-events.ts';
import { Book, Review } from '../../../orm/entities/index.ts';
import { reviewRow } from '../../../orm/entity-rows.ts';
import type { MutationResolvers } from '../../generated/resolvers-types.ts';
import { idOf, integer, LIMITS, missing, optionalText } from './input.ts';
import { withOwnCommits, writingThrough } from './own-commit.ts';
import { afterReview, beforeReview } from './review-write-through.ts';

export const reviewMutations: Pick<MutationResolvers, 'addReview' | 'deleteReview'> = {
  addReview: (_, { input }, context) =>
    context.invalidator.unitOfWork(async (evictions) => {
      const bookId = idOf('Book', input.bookId, 'bookId');
      const data = { rating: integer(input.rating, 'rating', ...LIMITS.rating), body: optionalText(input.body, 'body', LIMITS.body) };
      // Invalidated once, by this unit of work: the change feed skips the insert's notification.
      // With write-through, the invalidation also writes what the next read of the book needs
      // (review-write-through.ts), carried forward from what was cached before the transaction.
      const through = writingThrough(context);
      const before = through ? await beforeReview(context.invalidator, bookId) : null;
      let registered = false;
      const row = await withOwnCommits(context, evictions, (register) => context.em.transactional(async (tx) => {
        const book = (await tx.findOne(Book, bookId)) ?? missing('Book', input.bookId);
        const review = tx.create(Review, { ...data, book, createdAt: new Date() });
        await tx.flush();
        const row = reviewRow(review);
        registered = register({ table: 'review', old: null, new: reviewKeysOf(row) });
        return row;
      }));
      reviewChanged(evictions, null, row); // the book's reviews list, reviewCount and averageRating
      if (registered && before) afterReview(evictions, before, row, through!.ttlOf);
      return row;
    }),

  deleteReview: (_, { id }, context) =>
    context.invalidator.unitOfWork(async (evictions) => {
      const reviewId = idOf('Review', id);
      const before = await withOwnCommits(context, evictions, (register) => context.em.transactional(async (tx) => {
        const review = (await tx.findOne(Review, reviewId)) ?? missing('Review', id);
        const row = reviewRow(review);
        tx.remove(review);
        await tx.flush();
        register({ table: 'review', old: reviewKeysOf(row), new: null });
        return row;
      }));
      reviewChanged(evictions, before, null); // the review, the book's list and aggregate
      return id;
    }),
};
