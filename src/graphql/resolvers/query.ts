import { bookSort, DEFAULT_BOOK_ORDER } from '../connections/book-order.ts';
import { ID_DESC, pageSpec } from '../connections/page-args.ts';
import { badUserInput } from '../errors.ts';
import { parseGlobalId, parseIdOf } from '../global-id.ts';
import type { QueryResolvers } from '../generated/resolvers-types.ts';
import { loadConnection } from './connections.ts';

export const Query: QueryResolvers = {
  // Unknown, malformed and foreign ids all answer null: ids are opaque, so "not yours" is "absent".
  node(_, { id }, { loaders }) {
    const parsed = parseGlobalId(id);
    if (!parsed) return null;
    const loader = { Author: loaders.author, Book: loaders.book, Review: loaders.review }[parsed.type];
    return loader.load(parsed.id);
  },

  book(_, { id }, { loaders }) {
    const bookId = parseIdOf('Book', id);
    return bookId === null ? null : loaders.book.load(bookId);
  },

  author(_, { id }, { loaders }) {
    const authorId = parseIdOf('Author', id);
    return authorId === null ? null : loaders.author.load(authorId);
  },

  books(_, { first, after, authorId, orderBy }, ctx) {
    let partition = null;
    if (authorId !== null && authorId !== undefined) {
      const value = parseIdOf('Author', authorId);
      if (value === null) throw badUserInput(`"authorId" is not an author id: ${JSON.stringify(authorId.slice(0, 80))}`, 'authorId');
      partition = { column: 'author_id' as const, value };
    }
    const order = orderBy ?? DEFAULT_BOOK_ORDER;
    const spec = pageSpec({ table: 'book', partition, sort: bookSort(order.field, order.direction) }, { first, after });
    return loadConnection(ctx, spec, ctx.loaders.book);
  },

  authors(_, { first, after }, ctx) {
    const spec = pageSpec({ table: 'author', partition: null, sort: ID_DESC('author') }, { first, after });
    return loadConnection(ctx, spec, ctx.loaders.author);
  },
};
