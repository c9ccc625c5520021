import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { pino, type Logger } from 'pino';
import { createTokens, randomSecret } from '../auth/tokens.ts';
import { openCacheRuntime, type CacheRuntime } from '../cache/cache-runtime.ts';
import { createFillQueue } from '../cache/fill-queue.ts';
import type { InvalidatorObserver } from '../cache/invalidator.ts';
import type { FillProtection, LoaderObserver } from '../cache/read-through-loader.ts';
import type { StoreObserver } from '../cache/store-observer.ts';
import { readTypeTtls } from '../graphql/cache-policy.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import { createPatchRecorder, recordEntityFields } from '../graphql/answer-patch.ts';
import { applyFieldCacheHints } from '../graphql/field-cache-hints.ts';
import { formatError } from '../graphql/format-error.ts';
import { createLoaders, type Loaders } from '../graphql/loaders/create-loaders.ts';
import { resolvers } from '../graphql/resolvers/index.ts';
import { loadTypeDefs } from '../graphql/schema.ts';
import type { ChangeFeed } from '../orm/change-feed/change-feed.ts';
import { startPgChangeListener, type PgChangeListenerObserver } from '../orm/change-feed/pg-change-listener.ts';
import { startSqliteChangeCapture, type SqliteChangeCaptureObserver } from '../orm/change-feed/sqlite-change-capture.ts';
import { parseDatabaseUrl } from '../orm/database-url.ts';
import { createInvalidationSubscriber } from '../orm/invalidation-subscriber.ts';
import { openOrm, type CatalogOrm } from '../orm/open-orm.ts';
import type { OnQuery } from '../orm/orm-config.ts';
import { seedDemoIfEmpty } from '../orm/seed/demo-data.ts';
import { createAppObservers } from './app-observers.ts';
import { authenticate, verifiedAccountId } from './authenticate.ts';
import type { ServerConfig } from './config.ts';
import { createGraphiqlHandler } from './graphiql-page.ts';
import { cacheControlPlugin } from './cache-control-plugin.ts';
import { createHttpHandler } from './http-handler.ts';
import { createPersistedQueryCache } from './persisted-query-cache.ts';
import { createResponseCache, RESPONSE_CACHE_HEADER, type ResponseCacheObserver } from './response-cache.ts';
import { createRedisResponseStore, RESPONSE_MAX_TTL_SECONDS, type ResponseStore } from '../cache/response-store.ts';
import { createLocalResponses, type LocalResponsesOptions } from '../cache/local-responses.ts';
import { createMetrics } from './metrics.ts';
import { observabilityPlugin } from './observability-plugin.ts';
import { createQueryLimits } from './query-limits.ts';
import { logWhenDone } from './request-log.ts';
import { beginRequest, createRequestScope } from './request-scope.ts';

/** Observation seams, used by tests to count statements and round trips, and by metrics. */
export interface AppHooks {
  readonly onQuery?: OnQuery;
  readonly store?: StoreObserver;
  readonly loaders?: LoaderObserver;
  readonly invalidator?: InvalidatorObserver;
  /** Race protections of the read path (tests switch them off to show they matter). */
  readonly protection?: FillProtection;
  /** Test seam between a loader's database read and its fill. */
  readonly beforeFill?: (name: string, keys: readonly unknown[]) => Promise<void>;
  /** The PostgreSQL change listener's events (delays, reconnects). */
  readonly changeFeed?: PgChangeListenerObserver;
  /** Structured log (one line per request, among others); defaults to pino at the configured level. */
  readonly log?: Logger;
  /** The whole-response cache's lookups and saves (the benchmark counts its hit rate). */
  readonly responseCache?: ResponseCacheObserver;
  /** The SDL to serve instead of schema/ (tests change cache hints with it). */
  readonly typeDefs?: string;
}

/** The entity types whose rows a stale answer may be patched with, and the loader that reads their rows by id. */
const PATCHED_TYPES = { Book: 'book', Author: 'author', Review: 'review' } as const satisfies Record<string, keyof Loaders>;

export interface App {
  readonly httpServer: Server;
  readonly orm: CatalogOrm;
  readonly cache: CacheRuntime;
  /** Row changes captured by the database (null when the cache is off): the safety net for native writes. */
  readonly changeFeed: ChangeFeed | null;
  /** Starts listening on config.host; resolves to the base URL (http://host:port). */
  listen(port: number): Promise<string>;
  /** Stops accepting, drains in-flight requests, then closes Redis and the database. */
  close(): Promise<void>;
}

/**
 * Builds the whole server: database (migrated), cache, GraphQL, HTTP. Redis being down is not an
 * error here: the store degrades to misses and the server serves from the database.
 */
export async function createApp(config: ServerConfig, hooks: AppHooks = {}): Promise<App> {
  const log = hooks.log ?? pino({ level: config.logLevel });
  const scope = createRequestScope();
  const metrics = createMetrics({ cacheState: () => ({ epoch: cache.epoch.current(), usable: cache.usable() }) });
  const observe = createAppObservers({ hooks, metrics, scope, log });
  const cache = await openCacheRuntime({
    enabled: config.cacheEnabled, redisUrl: config.redisUrl, prefix: config.cachePrefix,
    store: observe.store, invalidator: observe.invalidator, onRepaired: observe.onRepaired,
    epochRefreshMs: config.epochRefreshMs,
    fastConnection: true, // only with Redis: the runtime opens nothing with the cache off
    // One barrier per request (local-tier.ts): its state lives with the request's.
    localTier: { max: config.localCacheMax ?? 0, ttlMs: config.localCacheTtlMs ?? 1000, observer: observe.localTier, session: () => scope.getStore() },
  });
  const { store, keyspace, invalidator } = cache;
  const orm = await openOrm({
    databaseUrl: config.databaseUrl,
    subscribers: [createInvalidationSubscriber(invalidator)],
    onQuery: observe.onQuery,
  });
  let changeFeed: ChangeFeed | null = null;
  try {
    changeFeed = cache.redis ? await startChangeFeed(config, orm, cache, log, observe.pgFeed, observe.sqliteFeed) : null;
    if (config.seedDemo) await seedDemoIfEmpty(orm);
  } catch (error) {
    await changeFeed?.stop();
    await orm.close(true);
    await cache.close();
    throw error;
  }

  if (config.authSecret === undefined) {
    log.warn('AUTH_SECRET is not set: signing bearer tokens with a random key of this process (they stop working on restart)');
  }
  const tokens = createTokens({ secret: config.authSecret ?? randomSecret(), ttlSeconds: config.authTokenTtlSeconds ?? 3600 });

  // Built as Apollo would build it from typeDefs and resolvers, then given the cache hints' resolvers
  // (and, with patches, the recording of where the entity rows' fields go in each answer).
  const patching = cache.redis !== null && (config.responseCache ?? true) && (config.responseCachePatches ?? true);
  const hinted = applyFieldCacheHints(makeExecutableSchema({ typeDefs: hooks.typeDefs ?? loadTypeDefs(), resolvers: resolvers as never }));
  // The recording starts with the operation's first entity field (a hit runs none).
  const recorderOf = () => {
    const plan = scope.getStore()?.responseCache;
    return plan && (plan.patch ??= createPatchRecorder());
  };
  const schema = patching ? recordEntityFields(hinted, Object.keys(PATCHED_TYPES), recorderOf) : hinted;
  const ttlOf = readTypeTtls(schema);
  const httpServer = createServer();
  /** A request's loaders over a fork of the entity manager: its snapshot, fills and observers. */
  const requestLoaders = (em: ReturnType<typeof orm.em.fork>, request: ReturnType<typeof scope.getStore>, withRecorder: boolean): Loaders => createLoaders({
    em, store, keyspace, ttlOf, observer: observe.loaders(request), recorder: withRecorder ? request?.responseCache?.recorder : undefined,
    protection: { leases: config.cacheLeases, ...hooks.protection }, beforeFill: hooks.beforeFill,
    fills: request?.fills, snapshot: request?.responseCache?.snapshot,
  });
  const responseCache = cache.redis && (config.responseCache ?? true)
    ? createResponseCache({
      store: responseStore(cache, observe.store, config, metrics.localResponses),
      keyspace, epoch: cache.epoch.current, scope, retentionSeconds: config.responseCacheTtlSeconds ?? RESPONSE_MAX_TTL_SECONDS,
      observer: {
        lookup(result, queryHash) {
          metrics.responseLookup(result);
          hooks.responseCache?.lookup?.(result, queryHash);
        },
        saved() {
          metrics.responseSaved();
          hooks.responseCache?.saved?.();
        },
        followed(outcome) {
          metrics.responseFollower(outcome);
        },
        patched() {
          metrics.responsePatched();
          hooks.responseCache?.patched?.();
        },
        patchRefused(reason) {
          metrics.responsePatchRefused(reason);
          hooks.responseCache?.patchRefused?.(reason);
        },
      },
      patches: patching ? {
        async load(entities) {
          const loaders = requestLoaders(orm.em.fork(), scope.getStore(), false);
          return Promise.all(entities.map(({ type, id }) => {
            const loader = Object.hasOwn(PATCHED_TYPES, type) ? loaders[PATCHED_TYPES[type as keyof typeof PATCHED_TYPES]] : undefined;
            return loader?.load(Number(id)) ?? null;
          })) as Promise<(Record<string, unknown> | null)[]>;
        },
        flushFills: async () => { await scope.getStore()?.fills?.flush(); },
      } : undefined,
    })
    : null;
  const limits = createQueryLimits(config.limits, config.development);
  const apollo = new ApolloServer<GraphQLContext>({
    // main.ts owns the signals (drain, then close Redis and the database): Apollo's own handler
    // would stop the server a second time, and its second stop() never resolves.
    stopOnTerminationSignals: false,
    schema,
    introspection: config.introspection,
    allowBatchedHttpRequests: false, // one operation per request: batching would multiply every limit
    includeStacktraceInErrorResponses: config.development,
    formatError: formatError(config.development, (error) => (scope.getStore()?.log ?? log).error({ err: error }, 'unexpected error in a resolver')),
    validationRules: limits.validationRules,
    parseOptions: limits.parseOptions,
    // APQ in the shared Redis: a hash registered on one instance is known to all (GET + CDN).
    persistedQueries: cache.redis ? { cache: createPersistedQueryCache(cache.redis, config.cachePrefix) } : undefined,
    plugins: [
      ApolloServerPluginLandingPageDisabled(), ApolloServerPluginDrainHttpServer({ httpServer }), ...limits.plugins,
      observabilityPlugin(scope, metrics),
      // Ours computes the cache policy and header by Apollo's rules without instrumenting every resolver.
      ApolloServerPluginCacheControlDisabled(), cacheControlPlugin(),
      ...(responseCache ? [responseCache.plugin()] : []),
    ],
  });
  await apollo.start();

  const handler = createHttpHandler<GraphQLContext>({
    apollo,
    graphiql: createGraphiqlHandler({ onError: (error) => log.error({ err: error }, 'GraphiQL asset error') }),
    async context({ req }) {
      // Apollo calls this inside the request's scope (see the 'request' listener below).
      const request = scope.getStore();
      const em = orm.em.fork();
      // First: a bad token fails the request (401) before any loader exists.
      const viewer = await authenticate(req, tokens, (id) => loaders.account.load(id), request?.verifiedAccount);
      const loaders = requestLoaders(em, request, true);
      const ownCommits = changeFeed?.ownCommits;
      const writeThrough = ownCommits ? { ownCommits, ttlOf } : null;
      return { em, invalidator, loaders, requestId: request?.id ?? 'none', log: request?.log ?? log, viewer, tokens, writeThrough };
    },
    healthy: () => orm.isConnected(),
    metrics: () => metrics.expose(),
    async beforeAnswer() {
      // All of the request's fills in one round trip. Waiting keeps "answered" meaning "cached"
      // for the client's next request.
      await scope.getStore()?.fills?.flush();
    },
    maxBodyBytes: config.maxBodyBytes,
    responseCache: responseCache ? {
      async answer(req, res, body) {
        const request = scope.getStore();
        const viewer = await verifiedAccountId(req, tokens);
        if (request && viewer !== undefined) request.verifiedAccount = viewer;
        // A bad token: Apollo's context refuses the request (401); nothing is looked up.
        const plan = request && viewer !== undefined ? responseCache.plan(req, body, viewer) : null;
        if (!request || !plan) {
          res.setHeader(RESPONSE_CACHE_HEADER, 'BYPASS');
          return false;
        }
        request.responseCache = plan;
        if (await responseCache.serve(plan, req, res)) return true;
        res.setHeader(RESPONSE_CACHE_HEADER, 'MISS');
        return false;
      },
      complete: async (body) => {
        const plan = scope.getStore()?.responseCache;
        if (plan) await responseCache.finish(plan, body);
      },
    } : undefined,
  });
  httpServer.on('request', (req, res) => {
    const request = beginRequest(req, res, { log, traceAll: config.cacheTrace ?? false });
    const fills = (request.fills = createFillQueue(store));
    // Whatever ended the request (an error, a client gone): what its loaders queued is sent, or
    // their leases would stay taken until they expire.
    res.once('close', () => void fills.flush());
    logWhenDone(req, res, request, log, metrics.httpRequest);
    res.once('handlerError', (error) => request.log.error({ err: error, url: req.url }, 'request failed'));
    // Everything the request causes — Apollo's execution, the loaders' round trips, MikroORM's
    // statements, a mutation's evictions — runs in this async context and is charged to it.
    scope.run(request, () => void handler(req, res));
  });

  return {
    httpServer, orm, cache, changeFeed,
    listen: (port) =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, config.host, () => {
          const { port: bound } = httpServer.address() as AddressInfo;
          const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
          resolve(`http://${host.includes(':') ? `[${host}]` : host}:${bound}`);
        });
      }),
    async close() {
      await apollo.stop(); // stops accepting and drains in-flight requests (drain plugin)
      if (httpServer.listening) await new Promise<void>((r) => httpServer.close(() => r()));
      await changeFeed?.stop(); // needs Redis and the ORM's connection: before both close
      await cache.close();
      await orm.close(true);
    },
  };
}

/**
 * The whole-response store: Redis, and with an in-process tier, whole answers held in process too
 * (they follow the tier's invalidation messages, see local-responses.ts).
 */
function responseStore(
  cache: CacheRuntime, observer: StoreObserver, config: ServerConfig, onLocal: LocalResponsesOptions['observer'],
): ResponseStore {
  const { redis, localTier, keyspace } = cache;
  // The fast path holds with the tier too: a batch it answers from memory answers the oldest clock
  // its copies were read with (local-tier.ts), so an answer built from a copy whose invalidation is
  // still on its way records a clock older than that invalidation's, and takes the full check.
  const shared = createRedisResponseStore(redis!, { observer, usable: cache.usable, clockKey: keyspace.clock, fastConnection: cache.fastConnection });
  if (!localTier) return shared;
  return createLocalResponses(shared, localTier, {
    max: config.localCacheMax ?? 0, ttlMs: config.localCacheTtlMs ?? 1000, usable: cache.usable, epoch: cache.epoch.current, observer: onLocal,
  });
}

/**
 * Writes that skip MikroORM's unit of work (native queries, QueryBuilder, cascades — and, on
 * PostgreSQL, any other program) reach the cache through the database itself: PostgreSQL's
 * triggers NOTIFY a channel this process LISTENs on; on SQLite, TEMP triggers on the ORM's own
 * connection. The resolvers' and the subscriber's evictions stay: they are immediate and visible in
 * the code; this feed is the safety net (duplicates are merged or tolerated, see each feed).
 */
async function startChangeFeed(
  config: ServerConfig, orm: CatalogOrm, cache: CacheRuntime, log: Logger,
  observer: PgChangeListenerObserver = {}, sqliteObserver: SqliteChangeCaptureObserver = {},
): Promise<ChangeFeed> {
  const target = parseDatabaseUrl(config.databaseUrl);
  if (target.driver === 'sqlite') {
    return startSqliteChangeCapture({
      orm, invalidator: cache.invalidator,
      observer: {
        ...sqliteObserver,
        error(error) {
          log.error({ err: error }, 'unreadable change captured by the SQLite triggers');
          sqliteObserver.error?.(error);
        },
      },
    });
  }
  return startPgChangeListener({
    connectionString: target.clientUrl, invalidator: cache.invalidator, epoch: cache.epoch, keyspace: cache.keyspace, redis: cache.redis,
    observer: {
      ...observer,
      connected(info) {
        log.info(info, info.reconnect ? 'change feed listening again' : 'change feed listening');
        observer.connected?.(info);
      },
      disconnected(error) {
        log.warn({ err: error }, 'change feed disconnected: reconnecting, then retiring the cache (epoch bump)');
        observer.disconnected?.(error);
      },
      error(error) {
        log.warn({ err: error }, 'change feed error');
        observer.error?.(error);
      },
    },
  });
}
