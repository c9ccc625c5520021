import { hash as cryptoHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LRUCache } from 'lru-cache';

/** What names one operation's answer: its text (as a SHA-256, the APQ hash), name and variables. */
export interface OperationRequest {
  /** Hex SHA-256 of the query text: computed, or the client's persisted-query hash. */
  readonly queryHash: string;
  readonly operationName: string | null;
  /** The variables as canonical JSON text: object keys sorted, so their order does not matter. */
  readonly variables: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Clients send the same few query texts over and over: hash each once (bounded by total text size). */
const queryHashes = new LRUCache<string, string>({ maxSize: 4_000_000, sizeCalculation: (_hash, query) => query.length + 64 });

function hashOf(query: string): string {
  let hash = queryHashes.get(query);
  if (hash === undefined) queryHashes.set(query, (hash = cryptoHash('sha256', query, 'hex')));
  return hash;
}
const NON_PREFLIGHTED = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];

/**
 * Reads a GET or JSON POST GraphQL request the way Apollo will, or answers null when Apollo would
 * refuse it or it cannot be a cached query: then Apollo handles it and says why. The refusals
 * mirror Apollo's so that a cached answer is never sent where Apollo would have sent an error:
 * CSRF prevention (a simple content type needs a preflight header), GET's content type, shapes.
 */
export function readOperationRequest(req: IncomingMessage, body: unknown): OperationRequest | null {
  if (!passesCsrfPrevention(req)) return null;
  let fields: { query?: unknown; operationName?: unknown; variables?: unknown; extensions?: unknown };
  if (req.method === 'GET') {
    const contentType = req.headers['content-type'];
    if (contentType !== undefined && !/^application\/json\s*(;|$)/i.test(contentType)) return null;
    const search = new URL(req.url ?? '/', 'http://x').searchParams;
    try {
      fields = {
        query: search.get('query') ?? undefined,
        operationName: search.get('operationName') ?? undefined,
        variables: parseJsonParam(search.get('variables')),
        extensions: parseJsonParam(search.get('extensions')),
      };
    } catch {
      return null;
    }
  } else if (req.method === 'POST' && body !== null && typeof body === 'object' && !Array.isArray(body)) {
    fields = body as typeof fields;
  } else {
    return null;
  }

  const { query, operationName, variables, extensions } = fields;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return null;
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) return null;
  const persisted = (extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery?.sha256Hash;
  let queryHash: string;
  if (typeof query === 'string') {
    if (/^\s*mutation\b/.test(query)) return null; // never stored: spare the lookup
    queryHash = hashOf(query);
    if (persisted !== undefined && persisted !== queryHash) return null; // Apollo reports the mismatch
  } else if (query === undefined && typeof persisted === 'string' && SHA256_HEX.test(persisted)) {
    queryHash = persisted;
  } else {
    return null;
  }
  return { queryHash, operationName: operationName ?? null, variables: canonicalJson(variables ?? {}) };
}

/** JSON with every object's keys in sorted order (arrays keep theirs): one text per value. */
export function canonicalJson(value: unknown): string {
  // The usual variables — a few scalars under keys already in order — are their own canonical form.
  if (isFlatSorted(value)) return JSON.stringify(value);
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v);
}

/** An object of scalar values whose keys are in sorted order. */
function isFlatSorted(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  let previous: string | null = null;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) return false;
    const v = (value as Record<string, unknown>)[key];
    if (v !== null && typeof v === 'object') return false;
    if (previous !== null && !(previous < key)) return false;
    previous = key;
  }
  return true;
}

function parseJsonParam(value: string | null): unknown {
  return value === null || value === '' ? undefined : JSON.parse(value);
}

/** Apollo's rule: a request with a content type that needs no CORS preflight must carry a preflight header. */
function passesCsrfPrevention(req: IncomingMessage): boolean {
  const contentType = req.headers['content-type'];
  if (contentType !== undefined) {
    const essence = contentType.split(';')[0]!.trim().toLowerCase();
    if (!NON_PREFLIGHTED.includes(essence)) return true;
  }
  return ['x-apollo-operation-name', 'apollo-require-preflight'].some((h) => {
    const value = req.headers[h];
    return typeof value === 'string' && value.length > 0;
  });
}
