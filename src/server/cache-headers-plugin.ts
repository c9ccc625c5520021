import type { ApolloServerPlugin } from '@apollo/server';

/**
 * HTTP caching to match the response's cache policy. Apollo's cache-control plugin computes the
 * policy (minimum maxAge, most restrictive scope) and writes `Cache-Control: max-age=N, public|private`
 * when it is cacheable; this plugin completes it: a mutation's answer, an uncacheable answer and an
 * answer with errors are `no-store`, so no browser or CDN keeps them. Apollo only sets the header for
 * cacheable responses, so "no header yet" means "not cacheable".
 */
export function cacheHeadersPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ operation, response }) {
          const headers = response.http.headers;
          const failed = response.body.kind === 'single' && (response.body.singleResult.errors?.length ?? 0) > 0;
          if (operation?.operation !== 'query' || failed || !headers.has('cache-control')) {
            headers.set('cache-control', 'no-store');
          }
        },
      };
    },
  };
}
