import type { PageSpec } from '../../catalog/page.ts';
import type { AuthorRow, BookRow, ReviewRow } from '../../catalog/rows.ts';
import { createConnection, type Connection } from '../connections/connection.ts';
import { encodeCursor } from '../connections/cursor.ts';
import type { Resolvers } from '../generated/resolvers-types.ts';
import type { GraphQLContext } from '../context.ts';

/** Loads a page (cached id list) and wraps it as a connection whose nodes come from `nodes`. */
export async function loadConnection<T>(
  ctx: GraphQLContext,
  spec: PageSpec,
  nodes: Parameters<typeof createConnection<T>>[1]['nodes'],
): Promise<Connection<T>> {
  const page = await ctx.loaders.pages.load(spec);
  if (!page) throw new Error(`page loader returned nothing for ${spec.table}`);
  return createConnection(page, {
    hasPrevious: spec.after !== null,
    cursor: (id, value) => encodeCursor(spec.sort.name, value, id),
    nodes,
  });
}

/** The fields every connection type resolves the same way, from the cached page. */
function connectionFields<T>() {
  return {
    edges: (c: Connection<T>) => c.edges(),
    totalCount: (c: Connection<T>) => c.page.total,
    pageInfo: (c: Connection<T>) => ({
      hasNextPage: c.page.hasNext,
      hasPreviousPage: c.hasPrevious,
      startCursor: c.cursorAt(0),
      endCursor: c.cursorAt(c.page.ids.length - 1),
    }),
  };
}

export const connectionResolvers: Pick<Resolvers, 'BookConnection' | 'AuthorConnection' | 'ReviewConnection'> = {
  BookConnection: connectionFields<BookRow>(),
  AuthorConnection: connectionFields<AuthorRow>(),
  ReviewConnection: connectionFields<ReviewRow>(),
};
