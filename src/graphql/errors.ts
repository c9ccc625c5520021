import { GraphQLError } from 'graphql';

/**
 * The `extensions.code` values this server answers with, beside Apollo's own
 * (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT, INTERNAL_SERVER_ERROR).
 */
export const ErrorCode = {
  BadUserInput: 'BAD_USER_INPUT',
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  ServiceUnavailable: 'SERVICE_UNAVAILABLE',
  QueryTooComplex: 'QUERY_TOO_COMPLEX',
  Unauthenticated: 'UNAUTHENTICATED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export function badUserInput(message: string, argument?: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.BadUserInput, ...(argument ? { argument } : {}) } });
}

export function notFound(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.NotFound } });
}

export function conflict(message: string, field?: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.Conflict, ...(field ? { field } : {}) } });
}

/**
 * No valid credentials. With `http`, the error answers the whole request with that status (Apollo
 * applies `extensions.http` of an error thrown by the context function, and strips it from the body).
 */
export function unauthenticated(message: string, http?: { status: number; headers?: Map<string, string> }): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.Unauthenticated, ...(http ? { http } : {}) } });
}
