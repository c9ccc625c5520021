import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { Metrics } from './metrics.ts';
import type { RequestScope } from './request-scope.ts';

/**
 * Per GraphQL request: its duration by operation name and type, the codes of the errors it
 * answers, its operation name for the request's log line, and — when the request is traced —
 * the trace as `extensions.cache`. Codes are read after formatError, as the client sees them.
 */
export function observabilityPlugin(scope: RequestScope, metrics: Metrics): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart() {
      const started = performance.now();
      const request = scope.getStore();
      let operation: { name: string | undefined; type: string } = { name: undefined, type: 'unknown' };
      return {
        async didResolveOperation({ operation: resolved }) {
          if (resolved) operation = { name: resolved.name?.value, type: resolved.operation };
          if (request) request.operationName = operation.name;
        },
        async willSendResponse({ response }) {
          metrics.graphqlRequest(operation.name, operation.type, (performance.now() - started) / 1000);
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          for (const error of result.errors ?? []) metrics.graphqlError(String(error.extensions?.code ?? 'UNKNOWN'));
          if (request?.trace) {
            // The fills the loaders queued are part of what the request cost.
            await request.fills?.flush();
            result.extensions = { ...result.extensions, cache: request.trace.toJSON() };
          }
        },
      };
    },
  };
}
