import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { FillQueue } from '../cache/fill-queue.ts';
import { RequestTrace } from './request-trace.ts';
import type { ResponseCachePlan } from './response-cache.ts';

export const REQUEST_ID_HEADER = 'x-request-id';
export const CACHE_TRACE_HEADER = 'x-cache-trace';

/** One HTTP request as the observability code sees it. */
export interface RequestState {
  readonly id: string;
  /** The app's logger bound to this request's id; resolvers get it through the GraphQL context. */
  readonly log: Logger;
  /** Present when the response should carry `extensions.cache`. */
  readonly trace: RequestTrace | null;
  readonly startedAt: number;
  /** Set once Apollo has resolved the operation (for the request's log line). */
  operationName?: string;
  /**
   * The bearer token's account id (null: anonymous) once verified, so a request that misses the
   * response cache does not verify its token a second time in Apollo's context function.
   */
  verifiedAccount?: number | null;
  /** The whole-response cache's plan, when the request may be answered from or saved to it. */
  responseCache?: ResponseCachePlan;
  /** The cache fills the request's loaders queued: sent at once before the answer leaves (fill-queue.ts). */
  fills?: FillQueue;
  /** The in-process tier's barrier, once this request has asked for it (local-tier.ts, BarrierSession). */
  tierBarrier?: Promise<boolean>;
}

/**
 * The request a piece of code runs for. SQL statements, Redis round trips and evictions are
 * reported by process-wide hooks (MikroORM's logger, the store, the invalidator); async context
 * carries the request into them, so they can be charged to its trace.
 */
export type RequestScope = AsyncLocalStorage<RequestState>;

export function createRequestScope(): RequestScope {
  return new AsyncLocalStorage<RequestState>();
}

/** A caller's id is kept only if it is safe to log and echo: short, and no spaces, quotes or newlines. */
const SANE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && SANE_ID.test(header) ? header : randomUUID();
}

/** Names the request (echoing its id in the response) and decides whether it is traced. */
export function beginRequest(req: IncomingMessage, res: ServerResponse, options: { log: Logger; traceAll: boolean }): RequestState {
  const id = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
  res.setHeader(REQUEST_ID_HEADER, id);
  const traced = options.traceAll || /^(1|on|true)$/i.test(String(req.headers[CACHE_TRACE_HEADER] ?? ''));
  let log: Logger | undefined;
  return {
    id,
    // Bound on first use: most requests (cache hits, with info lines off) never log anything.
    get log() { return (log ??= options.log.child({ requestId: id })); },
    trace: traced ? new RequestTrace() : null,
    startedAt: performance.now(),
  };
}
