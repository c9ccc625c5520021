import type { ApolloServerPlugin } from '@apollo/server';
import { collectCachePolicy } from '../graphql/field-cache-hints.ts';

const CACHEABLE_HEADER = /^max-age=(\d+), (public|private)$/;

/**
 * The response's cache policy and its HTTP header, in place of Apollo's cache-control plugin
 * (which the server disables: it instruments every resolver to see every field).
 *
 * - Policy: the schema's resolvers restrict Apollo's `overallCachePolicy` as they resolve
 *   (graphql/field-cache-hints.ts: Apollo's rules, decided per schema field). As in Apollo's
 *   plugin, a policy already restricted before execution (by another plugin) is left as it is.
 * - Header: `max-age=N, public|private` for a cacheable answer of a query without errors, further
 *   restricted by a cacheable header already set; everything else — a mutation's answer, an
 *   uncacheable answer, an answer with errors — is `no-store`, so no browser or CDN keeps it.
 *   An unparsable header someone else set is left alone (Apollo's rule).
 */
export function cacheControlPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async executionDidStart({ contextValue, overallCachePolicy }) {
          if (overallCachePolicy.maxAge === undefined && overallCachePolicy.scope === undefined) {
            collectCachePolicy(contextValue, overallCachePolicy);
          }
        },
        async willSendResponse({ operation, response, overallCachePolicy }) {
          const { headers } = response.http;
          const failed = response.body.kind !== 'single' || (response.body.singleResult.errors?.length ?? 0) > 0;
          if (operation?.operation !== 'query' || failed) {
            headers.set('cache-control', 'no-store');
            return;
          }
          const existing = headers.get('cache-control');
          const match = existing === undefined ? null : CACHEABLE_HEADER.exec(existing);
          if (existing !== undefined && existing !== 'no-store' && !match) return;
          let { maxAge, scope } = overallCachePolicy;
          if (match) {
            maxAge = maxAge === undefined ? Number(match[1]) : Math.min(maxAge, Number(match[1]));
            if (match[2] === 'private') scope = 'PRIVATE';
          }
          const cacheable = existing !== 'no-store' && maxAge !== undefined && maxAge > 0;
          headers.set('cache-control', cacheable ? `max-age=${maxAge}, ${(scope ?? 'PUBLIC').toLowerCase()}` : 'no-store');
        },
      };
    },
  };
}
