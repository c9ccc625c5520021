import { Kind, type GraphQLSchema, type ConstDirectiveNode } from 'graphql';

/**
 * TTLs of cached entities and pages come from the schema's `@cacheControl(maxAge:)` type hints —
 * the same hints Apollo's cache-control plugin reads for HTTP caching — so there is one place to
 * say how long a Book may be cached. A type without a maxAge hint is not cached (TTL 0).
 */
export type TtlOf = (typeName: string) => number;

export function readTypeTtls(schema: GraphQLSchema): TtlOf {
  const ttls = new Map<string, number>();
  for (const type of Object.values(schema.getTypeMap())) {
    const nodes = [type.astNode, ...((type as { extensionASTNodes?: readonly unknown[] }).extensionASTNodes ?? [])];
    for (const node of nodes) {
      const directives = (node as { directives?: readonly ConstDirectiveNode[] } | null | undefined)?.directives ?? [];
      for (const directive of directives) {
        if (directive.name.value !== 'cacheControl') continue;
        const maxAge = directive.arguments?.find((a) => a.name.value === 'maxAge')?.value;
        if (maxAge?.kind === Kind.INT) ttls.set(type.name, Number(maxAge.value));
      }
    }
  }
  return (typeName) => ttls.get(typeName) ?? 0;
}
