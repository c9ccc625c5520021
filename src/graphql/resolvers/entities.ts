import type { AuthorRow, BookRow, ReviewRow } from '../../catalog/rows.ts';
import { ID_DESC, pageSpec } from '../connections/page-args.ts';
import { bookSort } from '../connections/book-order.ts';
import type { Resolvers } from '../generated/resolvers-types.ts';
import type { GraphQLContext } from '../context.ts';
import { toGlobalId } from '../global-id.ts';
import { loadConnection } from './connections.ts';

/** Loads a parent through its loader; a row that vanished mid-request is an error, not a null. */
async function required<T>(promise: Promise<T | null>, what: string): Promise<T> {
  const row = await promise;
  if (row === null) throw new Error(`${what} no longer exists`);
  return row;
}

async function stats(ctx: GraphQLContext, bookId: number) {
  return (await ctx.loaders.bookStats.load(bookId)) ?? { count: 0, ratingSum: 0 };
}

export const entityResolvers: Pick<Resolvers, 'Author' | 'Book' | 'Review' | 'Node' | 'BookEdge' | 'AuthorEdge' | 'ReviewEdge'> = {
  Node: {
    // Rows carry no type tag; their shapes are disjoint.
    __resolveType: (row) => ('isbn' in row ? 'Book' : 'rating' in row ? 'Review' : 'Author'),
  },

  Author: {
    id: (a: AuthorRow) => toGlobalId('Author', a.id),
    books: (a, { first, after }, ctx) =>
      loadConnection(ctx, pageSpec({ table: 'book', partition: { column: 'author_id', value: a.id }, sort: bookSort('ID', 'DESC') }, { first, after }), ctx.loaders.book),
  },

  Book: {
    id: (b: BookRow) => toGlobalId('Book', b.id),
    author: (b, _, ctx) => required(ctx.loaders.author.load(b.authorId), `author of book ${b.id}`),
    reviews: (b, { first, after }, ctx) =>
      loadConnection(ctx, pageSpec({ table: 'review', partition: { column: 'book_id', value: b.id }, sort: ID_DESC('review') }, { first, after }), ctx.loaders.review),
    reviewCount: async (b, _, ctx) => (await stats(ctx, b.id)).count,
    averageRating: async (b, _, ctx) => {
      const { count, ratingSum } = await stats(ctx, b.id);
      return count === 0 ? null : ratingSum / count;
    },
  },

  Review: {
    id: (r: ReviewRow) => toGlobalId('Review', r.id),
    book: (r, _, ctx) => required(ctx.loaders.book.load(r.bookId), `book of review ${r.id}`),
  },

  BookEdge: { node: (e) => e.node },
  AuthorEdge: { node: (e) => e.node },
  ReviewEdge: { node: (e) => e.node },
};
