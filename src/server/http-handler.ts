import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext, type ContextFunction } from '@apollo/server';

export interface HttpHandlerOptions<C extends BaseContext> {
  readonly apollo: ApolloServer<C>;
  readonly context: ContextFunction<[{ req: IncomingMessage }], C>;
  /** Serves GraphiQL to browsers; answers false for requests it does not take. */
  readonly graphiql?: (req: IncomingMessage, res: ServerResponse) => boolean;
  readonly healthy: () => Promise<boolean>;
  /** Serves GET /metrics (the Prometheus text format) when given. */
  readonly metrics?: () => Promise<{ readonly contentType: string; readonly body: string }>;
  /** Larger request bodies are refused with 413 before being parsed. */
  readonly maxBodyBytes?: number;
  /** The whole-response cache, consulted before Apollo and told what Apollo answered. */
  readonly responseCache?: {
    /** Sends a stored answer if there is a current one: true when it did (Apollo is not called). */
    answer(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<boolean>;
    /** Apollo's serialized answer, to be stored if the operation turned out cacheable. */
    complete(body: string): Promise<void>;
  };
  /** Runs before Apollo's answer is sent (the request's cache fills are waited for here). */
  readonly beforeAnswer?: () => Promise<void>;
}

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Routes: GET /healthz, GET /metrics, GET /graphql for browsers (GraphiQL), GET/POST /graphql for Apollo Server.
 * Apollo's own integration API (`executeHTTPGraphQLRequest`) keeps its request semantics — CSRF
 * prevention, GET queries, batching rules, cache-control headers — without an Express dependency.
 */
export function createHttpHandler<C extends BaseContext>(options: HttpHandlerOptions<C>) {
  const maxBodyBytes = options.maxBodyBytes ?? 1_000_000;

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
        const ok = await options.healthy();
        return send(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable' });
      }
      if (path === '/metrics' && options.metrics && (req.method === 'GET' || req.method === 'HEAD')) {
        const { contentType, body } = await options.metrics();
        res.statusCode = 200;
        res.setHeader('content-type', contentType);
        res.setHeader('cache-control', 'no-store');
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      // GraphiQL takes browsers' GET /graphql and its assets under /graphql/assets/.
      if (options.graphiql?.(req, res)) return;
      if (path !== '/graphql') return send(res, 404, { errors: [{ message: `Not found: ${path}`, extensions: { code: 'NOT_FOUND' } }] });

      const body = req.method === 'POST' ? await readJsonBody(req, maxBodyBytes) : undefined;
      if (await options.responseCache?.answer(req, res, body)) return;
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const response = await options.apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: new URL(req.url ?? '/', 'http://x').search, body },
        context: () => options.context({ req }),
      });
      // The fills and the answer's save leave together (one socket write), before the answer.
      const filled = options.beforeAnswer?.();
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        // Stored before the answer leaves: the client's next request can already hit it.
        await Promise.all([filled, options.responseCache?.complete(response.body.string)]);
        res.end(response.body.string);
        return;
      }
      await filled;
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    } catch (error) {
      if (error instanceof HttpError) {
        return send(res, error.status, { errors: [{ message: error.message, extensions: { code: error.code } }] });
      }
      // Never a stack trace on the wire; the cause is logged by the caller's error hook.
      res.emit('handlerError', error);
      if (!res.headersSent) send(res, 500, { errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
      else res.end();
    }
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  res.end(JSON.stringify(body));
}

async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `Request body exceeds ${limit} bytes`);
  const text = (await readBody(req, limit)).toString('utf8');
  const type = String(req.headers['content-type'] ?? '');
  // Apollo answers non-JSON content types itself (400, with its CSRF rules); only JSON is parsed here.
  if (!/^application\/(graphql-response\+)?json/i.test(type)) return text.length > 0 ? text : undefined;
  if (text.trim() === '') throw new HttpError(400, 'BAD_REQUEST', 'Request body is empty; send {"query": "..."}');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'Request body is not valid JSON');
  }
}

/**
 * The request's body, refused (413) as soon as it passes `limit` bytes. Plain stream events rather
 * than `for await`: every request reads a body, and the async iterator's machinery costs more than
 * the rest of a cache hit's JavaScript.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error: Error | null) => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      settle(new HttpError(413, 'PAYLOAD_TOO_LARGE', `Request body exceeds ${limit} bytes`));
      req.destroy(); // the rest is not read (as `for await` would stop reading)
    };
    const onEnd = () => settle(null);
    const onError = (error: Error) => settle(error);
    // Closed before its end: the client went away mid-body.
    const onClose = () => settle(Object.assign(new Error('request body incomplete: the client closed the connection'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}
