import { defaultFieldResolver, getNamedType, isCompositeType, isObjectType, type GraphQLSchema } from 'graphql';
import { cacheAnnotationOf, type CacheAnnotation } from './cache-policy.ts';

/** What a resolved field contributes to its response's cache policy: an annotation once inheritance is settled. */
export type CacheHint = Omit<CacheAnnotation, 'inheritMaxAge'>;

/** The response's policy being computed (Apollo's `overallCachePolicy` is one). */
export interface CachePolicyAccumulator {
  restrict(hint: CacheHint): void;
}

const POLICY = Symbol('cachePolicy');

/** From here on, the fields this request resolves restrict `policy` (see applyFieldCacheHints). */
export function collectCachePolicy(context: object, policy: CachePolicyAccumulator): void {
  Object.defineProperty(context, POLICY, { value: policy, configurable: true });
}

/**
 * Apollo's cache-control rules, decided once per schema field instead of once per resolved field.
 *
 * Apollo's plugin computes the response's policy while it executes: for every field it resolves, a
 * hint from the field's `@cacheControl` or its composite return type's, defaulting to maxAge
 * `defaultMaxAge` for root fields and composite fields that do not inherit. To see every field it
 * wraps every resolver of the schema with its plugin dispatch — about a quarter of the CPU of
 * executing a 20-node page. Without dynamic hints (our resolvers set none) a field's contribution
 * depends only on the field and on whether it is a root field, so it is computed here once, and
 * only the fields that contribute anything are wrapped: a scalar field without a hint below the
 * root (most of any answer) restricts nothing and runs bare.
 *
 * The policy is still computed from the fields actually resolved, as Apollo's is (a null parent's
 * or an empty list's fields do not count; nor does a fragment on another type), and restriction is
 * order-independent (minimum maxAge, PRIVATE over PUBLIC), so the result equals Apollo's.
 * Mutates the schema's resolvers in place; meta fields (`__typename`, introspection) are not
 * wrapped, as Apollo does not instrument them either.
 */
export function applyFieldCacheHints(schema: GraphQLSchema, defaultMaxAge = 0): GraphQLSchema {
  const roots = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]);
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    const rootType = roots.has(type);
    for (const field of Object.values(type.getFields())) {
      const returnType = getNamedType(field.type);
      const composite = isCompositeType(returnType);
      const own = cacheAnnotationOf(field);
      const fromType = composite ? cacheAnnotationOf(returnType) : {};
      // Apollo: the return type's hint, replaced by the field's (unless the field only inherits
      // and the type gave no maxAge, when only its scope applies).
      let maxAge = fromType.maxAge;
      let scope = fromType.scope;
      let inherits = Boolean(fromType.inheritMaxAge);
      if (own.inheritMaxAge && maxAge === undefined) {
        inherits = true;
        scope = own.scope ?? scope;
      } else {
        maxAge = own.maxAge ?? maxAge;
        scope = own.scope ?? scope;
      }
      const hint = (root: boolean): CacheHint | null => {
        const defaulted = maxAge === undefined && ((composite && !inherits) || root) ? defaultMaxAge : maxAge;
        return defaulted === undefined && scope === undefined ? null : { ...(defaulted !== undefined && { maxAge: defaulted }), ...(scope && { scope }) };
      };
      const nested = hint(false);
      // Only a root type's fields are ever resolved at the root of an operation.
      const atRoot = rootType ? hint(true) : nested;
      if (!nested && !atRoot) continue;
      const resolve = field.resolve ?? defaultFieldResolver;
      field.resolve = (source, args, context, info) => {
        const policy = (context as { [POLICY]?: CachePolicyAccumulator } | null)?.[POLICY];
        const contribution = info.path.prev === undefined ? atRoot : nested;
        if (policy && contribution) policy.restrict(contribution);
        return resolve(source, args, context, info);
      };
    }
  }
  return schema;
}
