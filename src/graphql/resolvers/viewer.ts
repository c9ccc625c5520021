import type { AccountRow } from '../../catalog/rows.ts';
import { FAVORITES_ORDER, pageSpec } from '../connections/page-args.ts';
import type { GraphQLContext, Viewer } from '../context.ts';
import { unauthenticated } from '../errors.ts';
import type { QueryResolvers, Resolvers } from '../generated/resolvers-types.ts';
import { toGlobalId } from '../global-id.ts';
import { loadConnection } from './connections.ts';

/** The request's viewer, or UNAUTHENTICATED for an anonymous request. */
export function requireViewer(ctx: GraphQLContext, action: string): Viewer {
  if (!ctx.viewer) throw unauthenticated(`Sign in to ${action}: send "Authorization: Bearer <token>" from signUp or logIn`);
  return ctx.viewer;
}

export const viewerQuery: Pick<QueryResolvers, 'viewer'> = {
  viewer: (_, __, ctx) => ctx.viewer?.account() ?? null,
};

/**
 * An Account is only ever the request's own: the viewer, or the account whose credentials the
 * same request just proved (signUp, logIn). Its favorites pages are cached in that account's own
 * family, so one viewer's request never computes another's keys.
 */
export const accountResolvers: Pick<Resolvers, 'Account'> = {
  Account: {
    id: (a: AccountRow) => toGlobalId('Account', a.id),
    favorites: (a, { first, after }, ctx) =>
      loadConnection(ctx, pageSpec({ table: 'favorite', partition: { column: 'account_id', value: a.id }, sort: FAVORITES_ORDER }, { first, after }), ctx.loaders.book),
  },
};
