import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { RequestState } from './request-scope.ts';

export type Route = 'graphql' | 'graphql_assets' | 'healthz' | 'metrics' | 'other';

/** A label with five values, whatever paths clients ask for. */
export function routeOf(path: string): Route {
  if (path === '/graphql') return 'graphql';
  if (path.startsWith('/graphql/')) return 'graphql_assets';
  if (path === '/healthz') return 'healthz';
  if (path === '/metrics') return 'metrics';
  return 'other';
}

/** Longer paths are cut in the log: a client must not be able to write kilobytes per line. */
const MAX_PATH_CHARS = 200;

/**
 * One log line per request when its response is done (or the client went away). The path is
 * logged without its query string: a GET /graphql carries the whole query and its variables there.
 * Probes and scrapes log at debug, so that they do not drown the requests at info.
 */
export function logWhenDone(
  req: IncomingMessage, res: ServerResponse, request: RequestState, log: Pick<Logger, 'isLevelEnabled'>, onEnd?: (route: Route, status: number) => void,
): void {
  res.once('close', () => {
    const path = (req.url ?? '/').split('?')[0]!.slice(0, MAX_PATH_CHARS);
    const route = routeOf(path);
    const status = res.statusCode;
    onEnd?.(route, status);
    const level = route === 'healthz' || route === 'metrics' ? 'debug' : status >= 500 ? 'warn' : 'info';
    if (!log.isLevelEnabled(level)) return; // nor bind the request's logger for nothing
    request.log[level]({
      method: req.method,
      path,
      status,
      durationMs: Math.round((performance.now() - request.startedAt) * 10) / 10,
      operationName: request.operationName,
      ...(res.writableFinished ? {} : { aborted: true }),
    }, 'request');
  });
}
