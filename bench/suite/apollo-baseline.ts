/**
 * Target (c) of the suite: a plain Apollo Server 5 with Apollo's full-response cache
 * (`@apollo/server-plugin-response-cache`) on Redis (KeyvAdapter → Keyv → @keyv/redis), over the same
 * schema (loadTypeDefs), resolvers and database as ours, with our cache off: the resolvers read
 * through loaders over the null store (every read misses, invalidations are no-ops), as in
 * `createApp({ cacheEnabled: false })`. Served by our node:http handler (`createHttpHandler`, Apollo's
 * `executeHTTPGraphQLRequest`), so the HTTP layer is the same as ours. The same query limits as ours
 * run too (depth, aliases, cost), so that the only difference between the targets is the caching.
 *
 * The response cache: no sessionId (every response is public), TTL from the schema's
 * `@cacheControl` hints through Apollo's cache-control plugin (installed by default): Book, Author,
 * Review 300 s, connections 60 s, so Q1 and Q2 are cached for 60 s. Mutations are never cached and
 * evict nothing: a cached response is served until it expires. A counting plugin records whether each
 * query was answered from the cache (`metrics.responseCacheHit`, the flag the response cache sets);
 * cached answers also carry an `age` header.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import responseCachePlugin from '@apollo/server-plugin-response-cache';
import { KeyvAdapter } from '@apollo/utils.keyvadapter';
import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';
import { createKeyv } from '@keyv/redis';
import { buildSchema } from 'graphql';
import { pino } from 'pino';
import { openCacheRuntime } from '../../src/cache/cache-runtime.ts';
import { readTypeTtls } from '../../src/graphql/cache-policy.ts';
import type { GraphQLContext } from '../../src/graphql/context.ts';
import { formatError } from '../../src/graphql/format-error.ts';
import { createLoaders } from '../../src/graphql/loaders/create-loaders.ts';
import { resolvers } from '../../src/graphql/resolvers/index.ts';
import { loadTypeDefs } from '../../src/graphql/schema.ts';
import { openOrm, type CatalogOrm } from '../../src/orm/open-orm.ts';
import type { OnQuery } from '../../src/orm/orm-config.ts';
import { createHttpHandler } from '../../src/server/http-handler.ts';
import { createQueryLimits, DEFAULT_LIMITS } from '../../src/server/query-limits.ts';

export interface ApolloBaselineOptions {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** Keyv namespace of the response cache's Redis keys (`<namespace>::fqc:<sha256>`). */
  readonly namespace: string;
  readonly onQuery?: OnQuery;
  /** false: no response cache plugin (the same server executing every query; for comparisons). */
  readonly responseCache?: boolean;
}

export interface ResponseCacheCounters {
  /** Queries answered from the response cache / executed (then written to it if cacheable). */
  hits: number;
  misses: number;
  /** Round trips the plugin made to Redis through the KeyValueCache. */
  gets: number;
  sets: number;
  /** Queries by operation name and result: `<name>:hit` / `<name>:miss` (targets.ts, TargetCounters.lookups). */
  byOperation: Record<string, number>;
}

/** Counts one response-cache lookup as `<query>:<result>` (ResponseCacheCounters.byOperation, TargetCounters.lookups). */
export function countLookup(lookups: Record<string, number>, query: string, result: string): void {
  const key = `${query}:${result}`;
  lookups[key] = (lookups[key] ?? 0) + 1;
}

export interface ApolloBaseline {
  readonly orm: CatalogOrm;
  readonly responseCache: ResponseCacheCounters;
  listen(port: number): Promise<string>;
  close(): Promise<void>;
}

/** Counts the plugin's reads and writes on their way to Keyv. */
function counting(inner: KeyValueCache<string>, counters: ResponseCacheCounters): KeyValueCache<string> {
  return {
    get(key) {
      counters.gets++;
      return inner.get(key);
    },
    set(key: string, value: string, options?: KeyValueCacheSetOptions) {
      counters.sets++;
      return inner.set(key, value, options);
    },
    delete: (key) => inner.delete(key),
  };
}

export async function createApolloBaseline(options: ApolloBaselineOptions): Promise<ApolloBaseline> {
  const orm = await openOrm({ databaseUrl: options.databaseUrl, onQuery: options.onQuery });
  // Our cache, off: null store, no Redis (invalidations are no-ops), exactly as createApp's cache-off mode.
  const cache = await openCacheRuntime({ enabled: false, redisUrl: options.redisUrl, prefix: options.namespace });
  const keyv = createKeyv(options.redisUrl, { namespace: options.namespace });
  keyv.on('error', () => {}); // a failing Redis degrades to misses, as the plugin expects

  const counters: ResponseCacheCounters = { hits: 0, misses: 0, gets: 0, sets: 0, byOperation: {} };
  const hitCounter: ApolloServerPlugin<GraphQLContext> = {
    async requestDidStart() {
      return {
        async willSendResponse({ operation, operationName, metrics }) {
          if (operation?.operation !== 'query') return;
          if (metrics.responseCacheHit) counters.hits++;
          else counters.misses++;
          countLookup(counters.byOperation, operationName ?? 'other', metrics.responseCacheHit ? 'hit' : 'miss');
        },
      };
    },
  };

  const silent = pino({ level: 'silent' }); // the context's logger: the baseline logs nothing per request
  const typeDefs = loadTypeDefs();
  const ttlOf = readTypeTtls(buildSchema(typeDefs));
  const httpServer = createServer();
  const limits = createQueryLimits(DEFAULT_LIMITS, false);
  const apollo = new ApolloServer<GraphQLContext>({
    typeDefs,
    resolvers: resolvers as never,
    introspection: false,
    allowBatchedHttpRequests: false,
    formatError: formatError(false, (error) => console.error('unexpected error in a resolver', error)),
    validationRules: limits.validationRules,
    parseOptions: limits.parseOptions,
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ...limits.plugins,
      ...(options.responseCache === false ? [] : [responseCachePlugin<GraphQLContext>({ cache: counting(new KeyvAdapter<string>(keyv as never), counters) })]),
      hitCounter,
    ],
  });
  await apollo.start();

  const handler = createHttpHandler<GraphQLContext>({
    apollo,
    async context() {
      const em = orm.em.fork();
      return {
        em, invalidator: cache.invalidator, loaders: createLoaders({ em, store: cache.store, keyspace: cache.keyspace, ttlOf }),
        requestId: 'none', log: silent,
      };
    },
    healthy: () => orm.isConnected(),
  });
  httpServer.on('request', (req, res) => {
    res.once('handlerError', (error) => console.error('request failed', error));
    void handler(req, res);
  });

  return {
    orm,
    responseCache: counters,
    listen: (port) =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, '127.0.0.1', () => resolve(`http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`));
      }),
    async close() {
      await apollo.stop();
      if (httpServer.listening) await new Promise<void>((r) => httpServer.close(() => r()));
      await keyv.disconnect();
      await cache.close();
      await orm.close(true);
    },
  };
}
