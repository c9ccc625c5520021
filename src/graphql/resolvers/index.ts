import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import type { Resolvers } from '../generated/resolvers-types.ts';
import { connectionResolvers } from './connections.ts';
import { entityResolvers } from './entities.ts';
import { accountMutations } from './mutation/account-mutations.ts';
import { authorMutations } from './mutation/author-mutations.ts';
import { bookMutations } from './mutation/book-mutations.ts';
import { favoriteMutations } from './mutation/favorite-mutations.ts';
import { reviewMutations } from './mutation/review-mutations.ts';
import { Query } from './query.ts';
import { accountResolvers, viewerQuery } from './viewer.ts';

const ISO_DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

function parseDateTime(value: unknown): string {
  if (typeof value !== 'string' || !ISO_DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
    throw new GraphQLError(`DateTime must be an ISO 8601 date-time string, got ${JSON.stringify(value)}`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return new Date(value).toISOString();
}

export const resolvers: Resolvers = {
  Query: { ...Query, ...viewerQuery },
  Mutation: { ...authorMutations, ...bookMutations, ...reviewMutations, ...accountMutations, ...favoriteMutations },
  ...entityResolvers,
  ...accountResolvers,
  ...connectionResolvers,
  DateTime: new GraphQLScalarType({
    name: 'DateTime',
    description: 'An ISO 8601 date-time in UTC, e.g. 2026-11-25T17:18:34.000Z.',
    serialize: (value) => (value instanceof Date ? value.toISOString() : String(value)),
    parseValue: parseDateTime,
    parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : null),
  }),
};
