import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, Kind, visit, type DocumentNode, type ValidationRule, type ValueNode } from 'graphql';
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
  const estimates = new CostMemo();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, schema, operationName }) {
          const variables = request.variables ?? {};
          let estimate = estimates.get(document, operationName, variables);
          if (!estimate) {
            const badFirst: number[] = [];
            try {
              const cost = getComplexity({
                schema, query: document, variables, operationName: operationName ?? undefined,
                estimators: [connectionEstimator(badFirst), simpleEstimator({ defaultComplexity: 1 })],
              });
              estimate = { cost, badFirst };
            } catch {
              // Variables that do not coerce: execution refuses them with Apollo's BAD_USER_INPUT
              // before any resolver runs, so there is nothing to estimate (and nothing to remember).
              return;
            }
            estimates.set(document, operationName, variables, estimate);
          }
          if (estimate.badFirst.length > 0) {
            throw withStatus(badUserInput(`"first" must be between 0 and ${MAX_FIRST}, got ${estimate.badFirst[0]}`, 'first'));
          }
          if (estimate.cost > maxCost) {
            throw withStatus(new GraphQLError(`Query is too expensive: estimated cost ${estimate.cost} exceeds ${maxCost}; ask for smaller pages or fewer nested lists`, {
              extensions: { code: ErrorCode.QueryTooComplex, cost: estimate.cost, maxCost },
            }));
          }
        },
      };
    },
  };
}

interface CostEstimate {
  readonly cost: number;
  readonly badFirst: readonly number[];
}

/** Estimates remembered per document: at most this many variable combinations each. */
const ESTIMATES_PER_DOCUMENT = 64;

/**
 * Remembers cost estimates. A document's cost depends on its variables only through `first`
 * arguments (connectionEstimator) and directive arguments (`@skip`/`@include` decide what is
 * counted): the estimate is keyed by the operation and those variables' values, so `book(id: $id)`
 * is estimated once for every id. Apollo hands the same parsed DocumentNode to every request with
 * the same text (its document store), so the memo hangs off it and goes when Apollo drops it.
 */
class CostMemo {
  readonly #byDocument = new WeakMap<DocumentNode, { readonly relevant: readonly string[]; readonly estimates: Map<string, CostEstimate> }>();

  get(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown>): CostEstimate | undefined {
    const entry = this.#byDocument.get(document);
    return entry?.estimates.get(keyOf(entry.relevant, operationName, variables));
  }

  set(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown>, estimate: CostEstimate): void {
    let entry = this.#byDocument.get(document);
    if (!entry) this.#byDocument.set(document, (entry = { relevant: costVariables(document), estimates: new Map() }));
    if (entry.estimates.size >= ESTIMATES_PER_DOCUMENT) entry.estimates.clear();
    entry.estimates.set(keyOf(entry.relevant, operationName, variables), estimate);
  }
}

function keyOf(relevant: readonly string[], operationName: string | null | undefined, variables: Record<string, unknown>): string {
  // An absent variable (its default applies) and an explicit null are told apart.
  return JSON.stringify([operationName ?? null, ...relevant.map((name) => (variables[name] === undefined ? [] : [variables[name]]))]);
}

/** The variables a cost estimate can depend on: those inside `first` arguments and directive arguments. */
function costVariables(document: DocumentNode): string[] {
  const names = new Set<string>();
  const collect = (value: ValueNode): void => {
    if (value.kind === Kind.VARIABLE) names.add(value.name.value);
    else if (value.kind === Kind.LIST) value.values.forEach(collect);
    else if (value.kind === Kind.OBJECT) value.fields.forEach((field) => collect(field.value));
  };
  visit(document, {
    Field(field) {
      for (const argument of field.arguments ?? []) if (argument.name.value === 'first') collect(argument.value);
    },
    Directive(directive) {
      for (const argument of directive.arguments ?? []) collect(argument.value);
    },
  });
  return [...names].sort();
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
