import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, type ValidationRule } from 'graphql';
import { getComplexity, simpleEstimator, type ComplexityEstimator } from 'graphql-query-complexity';
import { MAX_FIRST } from '../graphql/connections/page-args.ts';
import { ErrorCode, badUserInput } from '../graphql/errors.ts';

export interface QueryLimits {
  /** Deepest field nesting (the contract's reference query is 8 deep). */
  readonly maxDepth: number;
  /** Largest estimated number of resolved values, lists counted at their `first`. */
  readonly maxCost: number;
  readonly maxAliases: number;
  readonly maxTokens: number;
  readonly maxDirectives: number;
}

export const DEFAULT_LIMITS: QueryLimits = { maxDepth: 12, maxCost: 25_000, maxAliases: 30, maxTokens: 2_000, maxDirectives: 30 };

/**
 * Limits against hostile queries, from maintained libraries: GraphQL Armor (depth, aliases,
 * tokens, directives, no field suggestions outside development) as validation rules, and
 * graphql-query-complexity for a cost that counts list sizes — `books(first: 100) { … reviews(first:
 * 100) … }` costs what it would resolve. The cost check runs once variables are known, before any
 * resolver, and also refuses every out-of-range `first`, so that no part of a bad query executes
 * (and caches) before its nested argument is found wrong.
 */
export function createQueryLimits(limits: QueryLimits, development: boolean): {
  plugins: ApolloServerPlugin[];
  validationRules: ValidationRule[];
  parseOptions: { maxTokens: number };
} {
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: true },
    maxAliases: { n: limits.maxAliases },
    // Armor's token limit re-parses the query and answers syntax errors with a 500; graphql-js's
    // own parser limit (Apollo's parseOptions, below) does the same job inside Apollo's parse step.
    maxTokens: { enabled: false },
    maxDirectives: { n: limits.maxDirectives },
    costLimit: { enabled: false }, // replaced by the list-aware cost below
    blockFieldSuggestion: { enabled: !development },
  }).protect();
  // Armor's typings resolve Apollo's CommonJS declarations; the plugin objects are the same shape.
  const armorPlugins = armor.plugins as unknown as ApolloServerPlugin[];
  return {
    plugins: [...armorPlugins, costPlugin(limits.maxCost)],
    validationRules: armor.validationRules,
    parseOptions: { maxTokens: limits.maxTokens },
  };
}

function costPlugin(maxCost: number): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, schema, operationName }) {
          const badFirst: number[] = [];
          let cost: number;
          try {
            cost = getComplexity({
              schema, query: document, variables: request.variables ?? {}, operationName: operationName ?? undefined,
              estimators: [connectionEstimator(badFirst), simpleEstimator({ defaultComplexity: 1 })],
            });
          } catch {
            // Variables that do not coerce: execution refuses them with Apollo's BAD_USER_INPUT
            // before any resolver runs, so there is nothing to estimate.
            return;
          }
          if (badFirst.length > 0) {
            throw withStatus(badUserInput(`"first" must be between 0 and ${MAX_FIRST}, got ${badFirst[0]}`, 'first'));
          }
          if (cost > maxCost) {
            throw withStatus(new GraphQLError(`Query is too expensive: estimated cost ${cost} exceeds ${maxCost}; ask for smaller pages or fewer nested lists`, {
              extensions: { code: ErrorCode.QueryTooComplex, cost, maxCost },
            }));
          }
        },
      };
    },
  };
}

/** A connection costs one plus `first` times what one of its items costs. */
function connectionEstimator(badFirst: number[]): ComplexityEstimator {
  return ({ field, args, childComplexity }) => {
    if (!field.args.some((a) => a.name === 'first')) return undefined;
    const first = typeof args.first === 'number' ? args.first : 10;
    if (!Number.isInteger(first) || first < 0 || first > MAX_FIRST) badFirst.push(first);
    return 1 + childComplexity * Math.max(1, Math.min(first, MAX_FIRST));
  };
}

/** Refused before execution: a client error, answered 400 like Apollo's own variable errors. */
function withStatus(error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status: 400 } } });
}
