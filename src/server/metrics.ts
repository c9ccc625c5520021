import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric of this server starts with it; the default process metrics keep their standard names. */
export const METRIC_PREFIX = 'catalog_';

/** What the Prometheus endpoint answers. */
export interface MetricsExposition {
  readonly contentType: string;
  readonly body: string;
}

export interface MetricsOptions {
  /** Read at scrape time: the cache's epoch and whether this process trusts the cache now. */
  readonly cacheState?: () => { readonly epoch: number; readonly usable: boolean };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The app's metrics, in a registry of its own rather than prom-client's global one: several apps
 * in one process (tests, a benchmark) then count apart instead of clashing on registration.
 */
export function createMetrics(options: MetricsOptions = {}) {
  const registry = new Registry();
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name: METRIC_PREFIX + name, help, labelNames, registers: [registry] });
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]) =>
    new Histogram<L>({ name: METRIC_PREFIX + name, help, labelNames, buckets, registers: [registry] });

  const cacheState = options.cacheState;
  if (cacheState) {
    new Gauge({ name: `${METRIC_PREFIX}cache_epoch`, help: 'Cache epoch in use by this process (bumped by repairs and other processes)', registers: [registry], collect() { this.set(cacheState().epoch); } });
    new Gauge({ name: `${METRIC_PREFIX}cache_usable`, help: '1 while this process reads the cache; 0 while Redis is away or a repair is pending', registers: [registry], collect() { this.set(cacheState().usable ? 1 : 0); } });
  }

  const fast = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
  const slow = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const m = {
    hits: counter('cache_hits_total', 'Loader keys served from the cache, by type (entity type or Page)', ['type']),
    misses: counter('cache_misses_total', 'Loader keys not found (or not servable) in the cache, by type', ['type']),
    fills: counter('cache_fills_total', 'Cache entries written after a miss (side fills included), by loader type', ['type']),
    leaseWaits: counter('cache_lease_waits_total', "Misses that waited for another filler's value, by type and outcome", ['type', 'outcome']),
    evictions: counter('cache_evictions_total', 'Entity keys deleted by invalidations, by type', ['type']),
    generationBumps: counter('cache_generation_bumps_total', 'List family generations bumped, by family kind (first segment of the name)', ['family']),
    reorders: counter('cache_range_reorders_total', 'Sort values whose range buckets a reorder set (old and new value each), by family kind', ['family']),
    invalidations: counter('cache_invalidations_total', 'Invalidations applied (one round trip each on a single Redis)'),
    lost: counter('cache_invalidations_lost_total', 'Invalidations that may not have reached Redis (repaired by an epoch bump)'),
    epochBumps: counter('cache_epoch_bumps_total', 'Epoch bumps made by this process, by reason', ['reason']),
    responses: counter('response_cache_lookups_total', 'Whole-response cache lookups, by result (hit, absent, invalidated, unavailable)', ['result']),
    responseSaves: counter('response_cache_saves_total', 'Whole responses stored after a miss'),
    responsePatches: counter('response_cache_patches_total', 'Stale answers rebuilt by patching the rows that changed, without running their operation'),
    responsePatchRefusals: counter('response_cache_patch_refusals_total', 'Stale answers that only tombstones made stale, rebuilt by running their operation, by why they were not patched', ['reason']),
    responseFollowers: counter('response_cache_followers_total', 'Misses that waited for an identical request building the same answer, by outcome (served: it then hit; built: it built its own)', ['outcome']),
    redis: histogram('redis_roundtrip_seconds', 'Redis round trips, by store operation', ['operation'], fast),
    redisFailures: counter('redis_failures_total', 'Failed Redis round trips (served from the database instead), by store operation', ['operation']),
    sqlStatements: counter('sql_statements_total', 'SQL statements sent, by first keyword (transaction control included)', ['statement']),
    sql: histogram('sql_statement_duration_seconds', 'SQL statements as timed by MikroORM (whole milliseconds; begin/commit are not timed)', ['statement'], slow),
    graphql: histogram('graphql_request_duration_seconds', 'GraphQL requests, by operation name and type', ['operation_name', 'operation_type'], slow),
    graphqlErrors: counter('graphql_errors_total', 'Errors in GraphQL responses, by extensions.code', ['code']),
    http: counter('http_requests_total', 'HTTP requests answered, by route and status', ['route', 'status']),
    feedNotifications: counter('change_feed_notifications_total', 'PostgreSQL change notifications applied'),
    feedEvents: counter('change_feed_events_total', 'Row changes from the change feed applied, by feed', ['feed']),
    feedDelay: histogram('change_feed_delay_seconds', "From the trigger's clock to the invalidation applied (PostgreSQL)", [], [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5]),
    localHits: counter('cache_local_hits_total', 'Cache lookups (one per batch round) answered by the in-process tier without a Redis read (after a shared barrier PING)'),
    localMisses: counter('cache_local_misses_total', 'Cache lookups the in-process tier sent on to Redis (a key not held, or the tier off)'),
    localEvictions: counter('cache_local_evictions_total', 'In-process tier entries dropped by invalidation messages'),
    localClears: counter('cache_local_clears_total', 'In-process tier emptied, by reason (disconnected: its subscription dropped; epoch)', ['reason']),
    localResponses: counter('response_cache_local_total', 'Whole answers in process (in-process tier on), by event: served (no Redis read), kept (a Redis hit copied), discarded (its dependencies changed in flight), evicted (found stale when next asked for)', ['event']),
    feedDisconnects: counter('change_feed_disconnects_total', 'Change feed connections lost (each followed by an epoch bump)'),
  };
  // Operation names and error codes come from clients: past a few hundred distinct values, new
  // ones share one label, so a client inventing names cannot grow the series without bound.
  const operationName = boundedLabel(200);
  const errorCode = boundedLabel(50);

  return {
    registry,
    lookup(type: string, hits: number, misses: number) {
      if (hits > 0) m.hits.inc({ type }, hits);
      if (misses > 0) m.misses.inc({ type }, misses);
    },
    fill(type: string, written: number) {
      if (written > 0) m.fills.inc({ type }, written);
    },
    leaseWait(type: string, served: number, timedOut: number) {
      if (served > 0) m.leaseWaits.inc({ type, outcome: 'served' }, served);
      if (timedOut > 0) m.leaseWaits.inc({ type, outcome: 'timed_out' }, timedOut);
    },
    invalidation(entityTypes: Iterable<string>, families: Iterable<string>, reordered: Iterable<string> = []) {
      m.invalidations.inc();
      for (const type of entityTypes) m.evictions.inc({ type });
      for (const family of families) m.generationBumps.inc({ family: family.split('.')[0]! });
      for (const family of reordered) m.reorders.inc({ family: family.split('.')[0]! });
    },
    lostInvalidation: () => m.lost.inc(),
    responseLookup: (result: string) => m.responses.inc({ result }),
    responseSaved: () => m.responseSaves.inc(),
    responsePatched: () => m.responsePatches.inc(),
    responsePatchRefused: (reason: string) => m.responsePatchRefusals.inc({ reason }),
    responseFollower: (outcome: 'served' | 'built') => m.responseFollowers.inc({ outcome }),
    epochBump: (reason: 'repair' | 'change_feed_connect') => m.epochBumps.inc({ reason }),
    redisRoundTrip: (operation: string, durationMs: number) => m.redis.observe({ operation }, durationMs / 1000),
    redisFailure: (operation: string) => m.redisFailures.inc({ operation }),
    sqlStatement(sql: string, durationMs: number | undefined) {
      const statement = statementKind(sql);
      m.sqlStatements.inc({ statement });
      if (durationMs !== undefined) m.sql.observe({ statement }, durationMs / 1000);
    },
    graphqlRequest(name: string | undefined, type: string, seconds: number) {
      m.graphql.observe({ operation_name: name ? operationName(name) : 'anonymous', operation_type: type }, seconds);
    },
    graphqlError: (code: string) => m.graphqlErrors.inc({ code: errorCode(code) }),
    httpRequest: (route: string, status: number) => m.http.inc({ route, status: String(status) }),
    changeFeedApplied(feed: 'postgres' | 'sqlite', events: number, delayMs?: number) {
      m.feedEvents.inc({ feed }, events);
      if (delayMs === undefined) return;
      m.feedNotifications.inc();
      m.feedDelay.observe(Math.max(0, delayMs) / 1000);
    },
    changeFeedDisconnected: () => m.feedDisconnects.inc(),
    localTier: (outcome: 'hit' | 'miss') => (outcome === 'hit' ? m.localHits : m.localMisses).inc(),
    localEvictions: (keys: number) => m.localEvictions.inc(keys),
    localCleared: (reason: string) => m.localClears.inc({ reason }),
    localResponses: (event: 'served' | 'kept' | 'discarded' | 'evicted', count = 1) => m.localResponses.inc({ event }, count),
    /** This app's metrics and the process's, in the Prometheus text format. */
    async expose(): Promise<MetricsExposition> {
      const merged = Registry.merge([processRegistry(), registry]);
      return { contentType: merged.contentType, body: await merged.metrics() };
    },
  };
}

const STATEMENTS = new Set(['select', 'insert', 'update', 'delete', 'with', 'begin', 'commit', 'rollback', 'savepoint', 'release']);

/** The statement's first keyword: a label with a dozen values at most. */
function statementKind(sql: string): string {
  const word = /^\s*\(?\s*([a-z]+)/i.exec(sql)?.[1]?.toLowerCase() ?? '';
  return STATEMENTS.has(word) ? word : 'other';
}

/** Keeps the first `limit` distinct values (64 characters at most), then answers 'other'. */
function boundedLabel(limit: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    const label = value.slice(0, 64);
    if (seen.has(label)) return label;
    if (seen.size >= limit) return 'other';
    seen.add(label);
    return label;
  };
}

/**
 * The default process metrics (CPU, memory, event loop lag, GC) describe the process, not an app:
 * one set per process, shared by every app's /metrics. Collecting them per app would start an
 * event-loop monitor and a GC observer per app that nothing ever stops.
 */
let processMetrics: Registry | undefined;
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}
