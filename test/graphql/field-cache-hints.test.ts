import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControl } from '@apollo/server/plugin/cacheControl';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { applyFieldCacheHints } from '../../src/graphql/field-cache-hints.ts';
import { cacheControlPlugin } from '../../src/server/cache-control-plugin.ts';

// Every rule of Apollo's cache-control plugin, on a schema with data-dependent shapes (null
// parents, empty lists, abstract types, fragments on other types): our per-field hints must give
// the same policy and the same header as Apollo's plugin, query by query.
const typeDefs = /* GraphQL */ `
  enum CacheControlScope { PUBLIC PRIVATE }
  directive @cacheControl(maxAge: Int, scope: CacheControlScope, inheritMaxAge: Boolean) on FIELD_DEFINITION | OBJECT | INTERFACE | UNION

  interface Node { id: ID! }
  type Thing implements Node @cacheControl(maxAge: 300) {
    id: ID!
    name: String
    secret: String @cacheControl(scope: PRIVATE)
    short: String @cacheControl(maxAge: 5)
    parts: [Part!]!
    noParts: [Part!]!
    missing: Part
    owner: Owner
    inherited: Part @cacheControl(inheritMaxAge: true)
    inheritedPrivate: Bare @cacheControl(inheritMaxAge: true, scope: PRIVATE)
    bare: Bare
    page: Page
  }
  type Part @cacheControl(maxAge: 120) { id: ID! label: String }
  type Bare { label: String }
  type Owner implements Node @cacheControl(maxAge: 60, scope: PRIVATE) { id: ID! email: String }
  type Page @cacheControl(inheritMaxAge: true) { items: [Part!]! }
  union Either = Thing | Owner
  type Query {
    thing(id: ID!): Thing
    node(id: ID!): Node
    either(id: ID!): Either
    hello: String
    long: String @cacheControl(maxAge: 1000)
    privateRoot: String @cacheControl(maxAge: 30, scope: PRIVATE)
    things: [Thing!]! @cacheControl(maxAge: 90)
  }
  type Mutation { touch: Thing }
`;

const thing = (id: string) => ({
  id, name: `thing ${id}`, secret: 's', short: 'x', parts: [{ id: 'p1', label: 'a' }, { id: 'p2', label: 'b' }], noParts: [],
  missing: null, owner: { id: 'o1', email: 'e' }, inherited: { id: 'p3', label: 'c' }, inheritedPrivate: { label: 'd' },
  bare: { label: 'e' }, page: { items: [{ id: 'p4', label: 'f' }] },
});
const lookup = (id: string) => (id === 'owner' ? { id: 'o2', email: 'x', __typename: 'Owner' } : id === 'none' ? null : { ...thing(id), __typename: 'Thing' });
const resolvers = {
  Query: {
    thing: (_: unknown, { id }: { id: string }) => (id === 'none' ? null : thing(id)),
    node: (_: unknown, { id }: { id: string }) => lookup(id),
    either: (_: unknown, { id }: { id: string }) => lookup(id),
    hello: () => 'hi',
    long: () => 'l',
    privateRoot: () => 'p',
    things: () => [thing('1'), thing('2')],
  },
  Mutation: { touch: () => thing('1') },
  Node: { __resolveType: (o: { __typename: string }) => o.__typename },
  Either: { __resolveType: (o: { __typename: string }) => o.__typename },
};

const QUERIES = [
  '{ hello }',
  '{ long }',
  '{ long hello }',
  '{ privateRoot }',
  '{ privateRoot long }',
  '{ __typename }',
  '{ thing(id: "1") { id name } }',
  '{ thing(id: "1") { secret } }',
  '{ thing(id: "1") { short name } }',
  '{ thing(id: "1") { parts { label } } }',
  '{ thing(id: "1") { noParts { label } } }',
  '{ thing(id: "1") { missing { label } } }',
  '{ thing(id: "1") { owner { email } } }',
  '{ thing(id: "1") { inherited { label } } }',
  '{ thing(id: "1") { inheritedPrivate { label } } }',
  '{ thing(id: "1") { bare { label } } }',
  '{ thing(id: "1") { page { items { label } } } }',
  '{ thing(id: "none") { owner { email } short } }',
  '{ things { name } }',
  '{ things { parts { id } page { items { id } } } }',
  '{ node(id: "1") { id ... on Thing { name } ... on Owner { email } } }',
  '{ node(id: "owner") { id ... on Thing { short } ... on Owner { email } } }',
  '{ node(id: "none") { id } }',
  '{ either(id: "1") { ... on Thing { bare { label } } } }',
  '{ either(id: "owner") { __typename } }',
  '{ a: thing(id: "1") { name } b: thing(id: "2") { short } c: long }',
  'query Q($skip: Boolean!) { thing(id: "1") { name short @skip(if: $skip) } }',
  'mutation { touch { name } }',
  '{ thing(id: "1") { name } nope }',
];

/** Runs every query once through an ApolloServer and reports its policy and header. */
async function policies(serverPlugins: ApolloServerPlugin[], schema = makeExecutableSchema({ typeDefs, resolvers })) {
  let seen: { maxAge?: number; scope?: string } = {};
  const server = new ApolloServer({
    schema,
    plugins: [
      ...serverPlugins,
      { async requestDidStart() { return { async willSendResponse({ overallCachePolicy }) { seen = { maxAge: overallCachePolicy.maxAge, scope: overallCachePolicy.scope }; } }; } },
    ],
  });
  await server.start();
  try {
    const results: Record<string, unknown> = {};
    for (const query of QUERIES) {
      for (const variables of query.includes('$skip') ? [{ skip: true }, { skip: false }] : [{}]) {
        seen = {};
        const response = await server.executeOperation({ query, variables }, { contextValue: {} });
        results[`${query} ${JSON.stringify(variables)}`] = { policy: seen, header: response.http.headers.get('cache-control') ?? null };
      }
    }
    return results;
  } finally {
    await server.stop();
  }
}

describe('per-field cache hints (applyFieldCacheHints + cacheControlPlugin)', () => {
  it("give every query the policy and Cache-Control header Apollo's cache-control plugin gives it", async () => {
    // Apollo's plugin alone, plus the server's rule that a non-query or failed answer is no-store.
    const noStoreUnlessQuery: ApolloServerPlugin = {
      async requestDidStart() {
        return {
          async willSendResponse({ operation, response }) {
            const failed = response.body.kind === 'single' && (response.body.singleResult.errors?.length ?? 0) > 0;
            if (operation?.operation !== 'query' || failed || !response.http.headers.has('cache-control')) response.http.headers.set('cache-control', 'no-store');
          },
        };
      },
    };
    const apollo = await policies([ApolloServerPluginCacheControl(), noStoreUnlessQuery]);
    const ours = await policies([ApolloServerPluginCacheControlDisabled(), cacheControlPlugin()], applyFieldCacheHints(makeExecutableSchema({ typeDefs, resolvers })));
    expect(ours).toEqual(apollo);
    // The comparison has teeth: the queries do reach different policies.
    const headers = new Set(Object.values(apollo).map((r) => (r as { header: string }).header));
    expect([...headers].sort()).toEqual(['max-age=1000, public', 'max-age=120, public', 'max-age=30, private', 'max-age=300, private', 'max-age=300, public', 'max-age=5, public', 'max-age=60, private', 'max-age=90, public', 'no-store'].sort());
  });

  it('wraps only the fields that contribute: a scalar field without a hint below the root runs bare', () => {
    const schema = makeExecutableSchema({ typeDefs, resolvers });
    const before = new Map(Object.values(schema.getTypeMap()).flatMap((t) => ('getFields' in t && !t.name.startsWith('__') ? Object.values((t as any).getFields()).map((f: any) => [`${t.name}.${f.name}`, f.resolve]) : [])));
    applyFieldCacheHints(schema);
    const wrapped = [...before].filter(([name]) => {
      const [type, field] = name.split('.');
      return (schema.getType(type!) as any).getFields()[field!].resolve !== before.get(name);
    }).map(([name]) => name);
    expect(wrapped).toContain('Thing.parts'); // composite
    expect(wrapped).toContain('Thing.secret'); // hinted scalar
    expect(wrapped).toContain('Query.hello'); // root scalar: maxAge 0 by default
    expect(wrapped).not.toContain('Thing.name');
    expect(wrapped).not.toContain('Part.label');
  });
});
