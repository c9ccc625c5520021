import type { GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { isDatabaseUnavailable } from '../orm/database-unavailable.ts';
import { ErrorCode } from './errors.ts';

/**
 * Errors leave the server with a code and a message meant for clients: unexpected errors are
 * masked outside development (no internals, no stack traces), and a database that cannot be
 * reached says so with SERVICE_UNAVAILABLE.
 */
export function formatError(development: boolean, onInternalError: (error: unknown) => void = () => {}) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const cause = unwrapResolverError(error);
    if (isDatabaseUnavailable(cause)) {
      return { ...formatted, message: 'The database is unavailable; try again shortly', extensions: { code: ErrorCode.ServiceUnavailable } };
    }
    if (formatted.extensions?.code === 'INTERNAL_SERVER_ERROR') onInternalError(cause);
    if (formatted.extensions?.code === 'INTERNAL_SERVER_ERROR' && !development) {
      return { message: 'Internal server error', locations: formatted.locations, path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
    return formatted;
  };
}
