import { ConnectionException, DriverException } from '@mikro-orm/core';

/** Socket-level failures: the database cannot be reached at all. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** PostgreSQL: admin/crash shutdown, cannot connect now, and the whole connection-exception class. */
const POSTGRES_CODES = /^(57P01|57P02|57P03|08...)$/;
const MESSAGES = /Connection terminated|connection is closed|Client has encountered a connection error|timeout exceeded when trying to connect/i;

/**
 * Whether an error means "the database is unreachable" (so the client should retry) rather than
 * "this statement failed". MikroORM wraps most of these as a plain DriverException, so the code
 * and message of the driver error are what tell them apart.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  // Follows `cause`, and graphql-js's `thrownValue` (pg can reject with a plain object).
  for (let e = error, depth = 0; e && depth < 5; e = next(e), depth++) {
    if (e instanceof ConnectionException) return true;
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || POSTGRES_CODES.test(code))) return true;
    if ((e instanceof DriverException || e instanceof Error) && typeof message === 'string' && MESSAGES.test(message)) return true;
  }
  return false;
}

function next(e: unknown): unknown {
  const { cause, thrownValue } = e as { cause?: unknown; thrownValue?: unknown };
  return cause ?? thrownValue;
}
