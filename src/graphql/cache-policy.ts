import { Kind, type ConstDirectiveNode, type GraphQLSchema } from 'graphql';

/** One `@cacheControl` annotation, as Apollo's cache-control plugin reads it. */
export interface CacheAnnotation {
  readonly maxAge?: number;
  readonly scope?: 'PUBLIC' | 'PRIVATE';
  readonly inheritMaxAge?: true;
}

interface Annotated {
  readonly astNode?: { readonly directives?: readonly ConstDirectiveNode[] } | null;
  readonly extensionASTNodes?: readonly { readonly directives?: readonly ConstDirectiveNode[] }[];
}

/**
 * A type's or field's `@cacheControl` hint: the definition's, else the first extension's that has
 * one (Apollo's order). Apollo's rules, so that HTTP caching, the response cache and the entity TTLs
 * all read the schema the same way: `inheritMaxAge: true` drops any maxAge written beside it.
 */
export function cacheAnnotationOf(element: Annotated): CacheAnnotation {
  for (const node of [element.astNode, ...(element.extensionASTNodes ?? [])]) {
    const directive = node?.directives?.find((d) => d.name.value === 'cacheControl');
    if (!directive?.arguments) continue;
    const argument = (name: string) => directive.arguments!.find((a) => a.name.value === name)?.value;
    const scopeValue = argument('scope');
    const scope = scopeValue?.kind === Kind.ENUM && (scopeValue.value === 'PUBLIC' || scopeValue.value === 'PRIVATE') ? scopeValue.value : undefined;
    const inherit = argument('inheritMaxAge');
    if (inherit?.kind === Kind.BOOLEAN && inherit.value) return { inheritMaxAge: true, ...(scope && { scope }) };
    const maxAge = argument('maxAge');
    return { ...(maxAge?.kind === Kind.INT && { maxAge: Number(maxAge.value) }), ...(scope && { scope }) };
  }
  return {};
}

/**
 * TTLs of cached entities and pages come from the schema's `@cacheControl(maxAge:)` type hints —
 * the same hints HTTP caching reads — so there is one place to say how long a Book may be cached.
 * A type without a maxAge hint is not cached (TTL 0).
 */
export type TtlOf = (typeName: string) => number;

export function readTypeTtls(schema: GraphQLSchema): TtlOf {
  const ttls = new Map<string, number>();
  for (const type of Object.values(schema.getTypeMap())) {
    const { maxAge } = cacheAnnotationOf(type);
    if (maxAge !== undefined) ttls.set(type.name, maxAge);
  }
  return (typeName) => ttls.get(typeName) ?? 0;
}
