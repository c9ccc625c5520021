/**
 * The consistency stress driver (issue 4, item 7), shared by `npm run stress` (bench/consistency-stress.ts)
 * and its short CI version (test/stress/consistency.test.ts).
 *
 * For a while it runs, against PostgreSQL + Redis and real server processes (the `npm start` entry
 * point, each with the cache on and the run's own CACHE_PREFIX):
 *   - readers: concurrent loops posting `book(id:)`, four aliased `book(id:)`s, `books(first: 20)`
 *     ordered by PRICE DESC (half the time followed by the next page, after its last cursor, on
 *     another server) and in the default order, to a random server over loopback HTTP, with
 *     Zipf-skewed book choice so a few keys are hot;
 *   - three kinds of writers, each setting a book's `price_cents` to that book's next version:
 *       graphql  the `updateBook` mutation (to a random server),
 *       orm      a separate MikroORM instance in this process (openOrm + openCacheRuntime +
 *                createInvalidationSubscriber, as `npm run import` does): findOneOrFail + assign + flush,
 *       sql      a plain `pg` client, autocommit `UPDATE book SET price_cents = $1 WHERE id = $2`,
 *                which only the PostgreSQL change feed (triggers + LISTEN/NOTIFY) can make visible;
 *     writes of one book are serialised (a per-book lock), so its versions commit in order; after each
 *     write the writer reads the book back at once (and, for sql, once more just after the bound).
 *
 * Every value a read returns is checked against the write history. With ack(w) the moment write w's
 * call returned (mutation response received; flush returned; UPDATE returned) and bound(kind) 0 for
 * graphql and orm (they invalidate before returning) and `sqlBoundMs` for sql (the NOTIFY delay), a
 * read that started at t0 and returned version v of a book is
 *   - stale      if some write w of that book with version > v has ack(w) + bound(kind(w)) < t0;
 *   - impossible if v is higher than any version issued for that book by the time it arrived.
 * Checked values: every node's priceCents; on PRICE pages also each edge's sort value (the page's own
 * copy, from its cursor) and the page's membership: a book missing from the page whose required
 * version is above the page's last sort value (ties: above its id) shows a stale page — on a next
 * page, if also every version whose write had begun before the read ended is below the cursor
 * (prices only grow, so the book then certainly lay within the page's range during the read).
 * Next pages depend on range buckets closed at both ends, so this checks the range-bucketed page
 * invalidation under concurrent writes from all three writers.
 *
 * The check is exact for one process's clock: ack times and t0 are both taken here with
 * performance.now(), and delays of this event loop only make it more lenient, never stricter.
 *
 * To explain a stale read, not only count it: reads carry `x-cache-trace: 1`, so a stale sample
 * says whether the server served the book from the cache or filled it; each ORM write records the
 * cache epoch it invalidated in; a watcher polls the shared epoch, the ORM writer's epoch and every
 * book's tombstone every few ms (epoch timeline, tombstones that go down); each server's /metrics
 * is read at the end (hit ratio, lost invalidations, epoch bumps, change-feed delay).
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { openCacheRuntime, type CacheRuntime } from '../../src/cache/cache-runtime.ts';
import { epochKey } from '../../src/cache/keyspace.ts';
import { Book } from '../../src/orm/entities/index.ts';
import { createInvalidationSubscriber } from '../../src/orm/invalidation-subscriber.ts';
import { openOrm, type CatalogOrm } from '../../src/orm/open-orm.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { mulberry32 } from '../mulberry32.ts';
import { zipfRank } from '../zipf.ts';
import { startServerProcess, type ServerProcess } from '../../test/support/server-process.ts';


/** The change feed's stated bound (README): a plain-SQL write is in every query that starts this long after it committed. */
export const SQL_BOUND_MS = 1000;
export const WRITE_KINDS = ['graphql', 'orm', 'sql'] as const;
export type WriteKind = (typeof WRITE_KINDS)[number];
export const READ_TYPES = ['book', 'books4', 'byPrice', 'byPriceNext', 'byDefault', 'followUp'] as const;
export type ReadType = (typeof READ_TYPES)[number];

export interface StressOptions {
  /** How long readers and writers run (seconds). */
  readonly seconds: number;
  /** Keep running past `seconds` until this many reads were checked (capped at 10 × seconds). */
  readonly minReads?: number;
  /** Concurrent reader loops (default 24). */
  readonly readers?: number;
  /** Books in the catalog, all written and read (default 200). */
  readonly books?: number;
  /** Invalidation delay allowed to plain-SQL writes (default 1000 ms: the README's stated change-feed bound); 0 for the other kinds. */
  readonly sqlBoundMs?: number;
  /** Target writes per second, all kinds together (default 300). */
  readonly writeRate?: number;
  /** Concurrent writer loops per kind (default 4). */
  readonly writersPerKind?: number;
  /** Server processes sharing the database and the cache; reads and mutations go to a random one (default 2). */
  readonly servers?: number;
  /** Zipf exponent of the book choice (default 1.1: of 200 books, the hottest gets 21% of the draws, the top 20 68%). */
  readonly zipf?: number;
  /**
   * Plain-SQL writers: 'on' (a probe must see an SQL write through the cache first, or the run
   * aborts), 'off' (skipped), 'auto' (on when table book has a trigger, i.e. the change feed is
   * installed; otherwise skipped, and the result says why). Default 'on'.
   */
  readonly sql?: 'on' | 'off' | 'auto';
  /** Kinds of writers to run (default all three; sql subject to `sql`). */
  readonly kinds?: readonly WriteKind[];
  /**
   * Fault injection: every `stallEveryMs`, one random server process is frozen (SIGSTOP) for
   * `stallMs`, then resumed — a GC pause or a starved CPU. Off by default (0).
   */
  readonly stallMs?: number;
  readonly stallEveryMs?: number;
  /** Read each book back right after each write (default true). */
  readonly followUps?: boolean;
  readonly redisUrl?: string;
  /** More environment for the server processes (e.g. LOCAL_CACHE_MAX: the in-process tier). */
  readonly serverEnv?: Readonly<Record<string, string>>;
  /** Seed of the book choices (timing is not reproducible, the choices are). */
  readonly seed?: number;
  /** Progress lines (default: none). */
  readonly progress?: (line: string) => void;
  readonly progressEveryMs?: number;
  /** Stops the run early (Ctrl-C); the result says so, and everything is cleaned up as usual. */
  readonly signal?: AbortSignal;
}

/** A write a stale value missed. `epoch`: the cache epoch the ORM writer invalidated in (orm writes). */
export interface MissedWrite { version: number; kind: WriteKind; start: number; ack: number; overdueMs: number; epoch?: string }

/** A read value that missed a write it had to include. */
export interface StaleRead {
  readonly readType: ReadType;
  readonly server: number;
  /** Where the value came from: a node's priceCents, a PRICE page's sort value, or the page's membership. */
  readonly source: 'node' | 'pageSort' | 'membership';
  readonly book: number;
  readonly bookId: string;
  readonly dbId: number;
  readonly t0: number;
  readonly t1: number;
  readonly read: number;
  readonly required: number;
  /** Every write of the book with a version above the one read, acked before t0. */
  readonly missed: readonly MissedWrite[];
  readonly detail?: string;
  /** The book's tombstone as the watcher saw it change around the read (from 300 ms before t0 to t1). */
  tombstones?: string;
  /** How the server answered for this book: `hit` (from the cache), `missed` and/or `filled`, from its x-cache-trace. */
  readonly cache?: string;
  readonly requestId?: string;
}

/** A few of a server's Prometheus metrics (src/server/metrics.ts), summed over labels. */
export interface ServerMetrics {
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly invalidations: number;
  readonly lostInvalidations: number;
  readonly epochBumps: number;
  readonly redisFailures: number;
  /** change_feed_delay_seconds: from the trigger's clock to the invalidation applied. */
  readonly feedApplied: number;
  readonly feedMeanMs: number | null;
  readonly feedOver100ms: number;
  readonly feedOver250ms: number;
}

export interface LatencySummary { readonly count: number; readonly p50: number; readonly p99: number; readonly max: number }

export interface StressResult {
  /** The options with their defaults filled in. */
  readonly options: Required<Omit<StressOptions, 'progress' | 'progressEveryMs' | 'redisUrl' | 'signal'>>;
  readonly kinds: readonly WriteKind[];
  /** Why the plain-SQL writer did not run (undefined: it ran). */
  readonly sqlSkipped?: string;
  /** The preflight: ms from an SQL UPDATE's return until every server served it (sql writers only). */
  readonly sqlProbeMs?: number;
  readonly durationMs: number;
  /** The run was stopped early through `signal`. */
  readonly interrupted: boolean;
  readonly reads: number;
  /** Reads answered whole by the response cache (untraced reads only: traced ones bypass it). */
  readonly responseCacheHits: number;
  /** Values of a write whose request failed (it may land after newer writes): not checked. */
  readonly lateLandings: number;
  readonly readsByType: Record<ReadType, number>;
  readonly readsPerSecond: number;
  /** Book values checked (a list read checks 20). */
  readonly observations: number;
  /** Reads with at least one stale value, and the stale values. */
  readonly staleReads: number;
  readonly staleValues: number;
  /** Stale values by the kind of the overdue write(s) they missed. */
  readonly staleByKind: Record<WriteKind, number>;
  readonly staleSamples: readonly StaleRead[];
  readonly impossible: number;
  readonly impossibleSamples: readonly string[];
  /** Failed requests or writes (HTTP, GraphQL errors, SQL errors). */
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly writes: Record<WriteKind, number>;
  readonly writeLatencyMs: Record<WriteKind, LatencySummary>;
  /**
   * Per kind: the largest t0 − ack over values that missed an acked write of that kind (within the
   * bound or not); null when no read ever missed one. For graphql and orm anything but null is stale.
   */
  readonly maxStalenessMs: Record<WriteKind, number | null>;
  /** Per kind: acked writes that a value read missed while still within the kind's bound (sql: the NOTIFY delay at work). */
  readonly laggingWithinBound: Record<WriteKind, number>;
  /** Highest version written to one book, and that book's rank in the hot-key order (0 = hottest). */
  readonly maxVersion: number;
  /**
   * Entity tombstones seen to go DOWN (polled every few ms for every book): an invalidation's
   * tombstone overwritten by an earlier invalidation's, whose pipeline landed later. A fill whose
   * read predates the later write can then pass the guard (see the report's note).
   */
  /** The stalls injected (server, from..to). */
  readonly stalls: readonly string[];
  readonly tombstoneRegressions: number;
  /**
   * Epoch changes, as polled every few ms: `shared` is the Redis counter every process follows
   * (bumped to repair a lost invalidation), `orm writer` the epoch the ORM writer's runtime uses.
   */
  readonly epochTimeline: readonly { at: number; who: 'shared' | 'orm writer'; epoch: number }[];
  readonly tombstoneSamples: readonly string[];
  /** What each server's GET /metrics said at the end of the run (null: not available). */
  readonly serverMetrics: readonly (ServerMetrics | null)[];
  /** Warnings and errors the server processes logged (e.g. lost invalidations), the ORM writer's lost invalidations, shutdown trouble. */
  readonly serverWarnings: readonly string[];
}

interface WriteEntry {
  readonly version: number;
  readonly kind: WriteKind;
  readonly start: number;
  ack: number | null;
  failed: boolean;
  /** orm writes: the epoch of the writer's cache runtime during the flush, i.e. of the keys it invalidated ("2→3": it changed meanwhile). */
  epoch?: string;
}

interface Catalog {
  /** Global ids (from the API) and database ids (from SQL) of book index 0..n-1. */
  readonly gids: string[];
  readonly dbIds: number[];
  readonly indexOfGid: Map<string, number>;
}

const BOOK_QUERY = 'query B($id: ID!) { book(id: $id) { id priceCents } }';
const BOOKS4_QUERY = `query B4($a: ID!, $b: ID!, $c: ID!, $d: ID!) {
  a: book(id: $a) { id priceCents } b: book(id: $b) { id priceCents } c: book(id: $c) { id priceCents } d: book(id: $d) { id priceCents } }`;
const BY_PRICE_QUERY = '{ books(first: 20, orderBy: { field: PRICE, direction: DESC }) { edges { cursor node { id priceCents } } } }';
/** The next page of the same list: a value range closed at both ends (its own range buckets). */
const BY_PRICE_AFTER_QUERY = 'query N($after: String) { books(first: 20, after: $after, orderBy: { field: PRICE, direction: DESC }) { edges { cursor node { id priceCents } } } }';
const BY_DEFAULT_QUERY = '{ books(first: 20) { edges { node { id priceCents } } } }';
const UPDATE_MUTATION = 'mutation U($id: ID!, $p: Int!) { updateBook(id: $id, input: { priceCents: $p }) { id priceCents } }';
const PAGE_ORDER = 'book.PRICE.DESC';
const REQUEST_TIMEOUT_MS = 10_000;
const PROBE_TIMEOUT_MS = 5_000;
const SAMPLE_LIMIT = 20;
const STALE_SAMPLES_PER_KIND = 10;

const now = () => performance.now();

export async function runStress(input: StressOptions): Promise<StressResult> {
  const options: StressResult['options'] = {
    seconds: input.seconds,
    minReads: input.minReads ?? 0,
    readers: input.readers ?? 24,
    books: input.books ?? 200,
    sqlBoundMs: input.sqlBoundMs ?? SQL_BOUND_MS,
    writeRate: input.writeRate ?? 300,
    writersPerKind: input.writersPerKind ?? 4,
    servers: input.servers ?? 2,
    zipf: input.zipf ?? 1.1,
    sql: input.sql ?? 'on',
    kinds: input.kinds ?? WRITE_KINDS,
    followUps: input.followUps ?? true,
    stallMs: input.stallMs ?? 0,
    stallEveryMs: input.stallEveryMs ?? 3000,
    seed: input.seed ?? 20240607,
    serverEnv: input.serverEnv ?? {},
  };
  if (!(options.seconds > 0) || options.books < 21 || options.readers < 1 || options.servers < 1 || options.writeRate <= 0) {
    throw new RangeError(`runStress: need seconds > 0, books > 20, readers ≥ 1, servers ≥ 1, writeRate > 0; got ${JSON.stringify(options)}`);
  }
  const progress = input.progress ?? (() => {});
  const redisUrl = input.redisUrl ?? process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `stress.${randomBytes(4).toString('hex')}`;
  const bound: Record<WriteKind, number> = { graphql: 0, orm: 0, sql: options.sqlBoundMs };

  const resources: { name: string; close(): Promise<unknown> }[] = [];
  const shutdownNotes: string[] = [];
  /** The ORM writer's own lost invalidations (its cache runtime repairs them with an epoch bump). */
  const ormWarnings: string[] = [];
  const servers: ServerProcess[] = [];
  let outcome: Omit<StressResult, 'serverWarnings'>;
  const closeAll = async () => {
    for (const r of resources.reverse()) {
      const t = now();
      await r.close().catch((e) => progress(`cleanup: ${r.name}: ${(e as Error).message}`));
      if (now() - t > 1000) progress(`cleanup: ${r.name} took ${((now() - t) / 1000).toFixed(1)} s`);
    }
  };

  try {
    // --- The database, the catalog, the servers -------------------------------------------------
    const db: TestDatabase = await createTestDatabase('postgresql', 'stress');
    resources.push({ name: 'drop the database', close: () => db.drop() });
    const cache: CacheRuntime = await openCacheRuntime({
      enabled: true, redisUrl, prefix,
      invalidator: {
        lost(evictions, error) {
          const at = now();
          ormWarnings.push(`orm writer at ${at.toFixed(0)} ms: invalidation may not have reached Redis (${(error as Error).message}) ${JSON.stringify(evictions.describe())}`);
        },
      },
    });
    resources.push({ name: 'unlink the Redis keys', close: () => cleanRedis(redisUrl, prefix) }); // after every process that writes keys has stopped
    resources.push({ name: 'close the ORM writer\'s cache', close: () => cache.close() });
    const orm: CatalogOrm = await openOrm({ databaseUrl: db.url, subscribers: [createInvalidationSubscriber(cache.invalidator)] });
    resources.push({ name: 'close the ORM writer', close: () => orm.close(true) });
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    resources.push({ name: 'close the admin connection', close: () => admin.end() });
    await seedCatalog(admin, options.books);
    // Start from a checkpoint: databases created and dropped just before (a test suite) leave one
    // pending, and its I/O stalling commits and NOTIFY delivery mid-run would be measured as feed lag.
    await admin.query('CHECKPOINT').catch(() => {}); // needs superuser (or pg_checkpoint): best effort
    progress(`database ${new URL(db.url).pathname.slice(1)} seeded with ${options.books} books; starting ${options.servers} server process(es), cache prefix ${prefix}`);

    resources.push({ name: 'stop the servers', close: () => Promise.all(servers.map((s, i) => stopServer(s, i, shutdownNotes))) });
    const started = await Promise.allSettled(Array.from({ length: options.servers }, () =>
      startServerProcess({ ...options.serverEnv, DATABASE_URL: db.url, CACHE_PREFIX: prefix, REDIS_URL: redisUrl, LOG_LEVEL: 'info', SEED_DEMO: 'off' })));
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    const failedStart = started.find((s) => s.status === 'rejected');
    if (failedStart) throw (failedStart as PromiseRejectedResult).reason;

    // `timeout` lets the agent honour the servers' `Keep-Alive: timeout=5` hint (it drops an idle
    // socket a second before the server would), so a request never races the server's close.
    const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 60_000 });
    resources.push({ name: 'close the HTTP agent', close: async () => agent.destroy() });
    const post = (server: number, query: string, variables?: Record<string, unknown>, traced = true) =>
      postGraphQL(agent, servers[server]!.url, query, variables, traced);
    const catalog = await readCatalog(admin, post, options.books);
    progress(`servers ready: ${servers.map((s) => s.url).join(', ')}`);

    // --- Write history and the check ------------------------------------------------------------
    const history: WriteEntry[][] = catalog.gids.map(() => []);
    const issued = catalog.gids.map(() => 0);

    const staleSamples: StaleRead[] = [];
    const impossibleSamples: string[] = [];
    const errorSamples: string[] = [];
    const counts = {
      reads: 0, responseCacheHits: 0, lateLandings: 0, observations: 0, staleReads: 0, staleValues: 0, impossible: 0, errors: 0,
      readsByType: Object.fromEntries(READ_TYPES.map((t) => [t, 0])) as Record<ReadType, number>,
      writes: Object.fromEntries(WRITE_KINDS.map((k) => [k, 0])) as Record<WriteKind, number>,
      maxStaleness: Object.fromEntries(WRITE_KINDS.map((k) => [k, null])) as Record<WriteKind, number | null>,
      lagging: Object.fromEntries(WRITE_KINDS.map((k) => [k, 0])) as Record<WriteKind, number>,
      staleByKind: Object.fromEntries(WRITE_KINDS.map((k) => [k, 0])) as Record<WriteKind, number>,
    };
    const sampledByKind: Record<WriteKind, number> = { graphql: 0, orm: 0, sql: 0 };
    /** Counts a stale value by the kinds it missed; true when it should be kept as a sample (10 per kind). */
    const countStale = (missed: readonly MissedWrite[]): boolean => {
      let sample = false;
      for (const kind of new Set(missed.filter((w) => w.overdueMs > 0).map((w) => w.kind))) {
        counts.staleByKind[kind]++;
        if (sampledByKind[kind] < STALE_SAMPLES_PER_KIND) {
          sampledByKind[kind]++;
          sample = true;
        }
      }
      return sample;
    };
    const writeLatencies: Record<WriteKind, number[]> = { graphql: [], orm: [], sql: [] };
    const error = (what: string) => {
      counts.errors++;
      if (errorSamples.length < SAMPLE_LIMIT) errorSamples.push(`at ${now().toFixed(0)} ms: ${what}`);
    };

    /** The highest version of book b that a read starting at t0 must include (0: the seed). */
    const required = (b: number, t0: number): number => {
      const writes = history[b]!;
      for (let i = writes.length - 1; i >= 0; i--) {
        const w = writes[i]!;
        if (w.ack !== null && w.ack + bound[w.kind] < t0) return w.version;
      }
      return 0;
    };

    interface ReadContext {
      readonly type: ReadType; readonly server: number; readonly t0: number; readonly t1: number; stale: boolean;
      readonly answer?: GraphQLAnswer;
    }
    /** What the server's trace says about book b's entity key in this request, with the epoch of the key it used. */
    const cacheStory = (ctx: ReadContext, b: number): string | undefined => {
      const trace = ctx.answer?.extensions?.cache;
      if (!trace) return ctx.answer?.responseCache === 'HIT' ? 'whole response from the response cache' : `untraced (response cache ${ctx.answer?.responseCache ?? '?'})`;
      const suffix = `:e:{Book:${catalog.dbIds[b]}}`;
      const story = (what: string, list?: { items?: string[] }) => (list?.items ?? [])
        .filter((k) => k.endsWith(suffix))
        .map((k) => `${what} in epoch ${k.slice(prefix.length + 1).split(':')[0]}`);
      const parts = [...story('hit', trace.hit), ...story('missed', trace.missed), ...story('filled', trace.filled)];
      return parts.length > 0 ? parts.join(', ') : 'not looked up (primed by the page query)';
    };

    /** Checks one value of book b read in `ctx`; returns whether it was stale. */
    const checkValue = (ctx: ReadContext, b: number, value: unknown, source: StaleRead['source']): void => {
      counts.observations++;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > issued[b]!) {
        counts.impossible++;
        if (impossibleSamples.length < SAMPLE_LIMIT) {
          impossibleSamples.push(`${ctx.type} ${source} book #${b} (${catalog.gids[b]}): read ${JSON.stringify(value)}, highest version issued ${issued[b]}`);
        }
        return;
      }
      const missed: MissedWrite[] = [];
      let stale = false;
      const writes = history[b]!; // writes[i] is version i + 1: only the writes newer than the value read
      // A write whose request failed (a client timeout, mostly) may still run on the server later —
      // after newer writes of the same book — and then the database itself holds its older value.
      // Reading that value is then right, not stale: counted apart.
      if (value > 0 && writes[value - 1]?.failed) {
        counts.lateLandings++;
        return;
      }
      for (let i = value; i < writes.length; i++) {
        const w = writes[i]!;
        if (w.ack === null || w.ack >= ctx.t0) continue;
        const overdueMs = ctx.t0 - w.ack - bound[w.kind];
        missed.push({ version: w.version, kind: w.kind, start: w.start, ack: w.ack, overdueMs, epoch: w.epoch });
        const lag = ctx.t0 - w.ack;
        counts.maxStaleness[w.kind] = Math.max(counts.maxStaleness[w.kind] ?? 0, lag);
        if (overdueMs > 0) stale = true;
        else counts.lagging[w.kind]++;
      }
      if (!stale) return;
      counts.staleValues++;
      ctx.stale = true;
      if (countStale(missed)) {
        staleSamples.push({
          readType: ctx.type, server: ctx.server, source, book: b, bookId: catalog.gids[b]!, dbId: catalog.dbIds[b]!,
          t0: ctx.t0, t1: ctx.t1, read: value, required: required(b, ctx.t0), missed,
          cache: cacheStory(ctx, b), requestId: ctx.answer?.requestId,
        });
      }
    };

    /** The highest version of a book whose write began before `t`: no later one can have committed by then. */
    const highestStarted = (b: number, t: number): number => {
      const writes = history[b]!;
      for (let i = writes.length - 1; i >= 0; i--) if (writes[i]!.start < t) return writes[i]!.version;
      return 0;
    };

    /**
     * A PRICE DESC page must list every book whose price, whatever it was during the read, ranks it
     * between the page's cursor (exclusive; none for the first page) and its last row. Prices only
     * grow: during the read a book's price lay between its required version and the highest version
     * whose write had begun before the read ended.
     */
    const checkMembership = (ctx: ReadContext, listed: Set<number>, lastValue: number, lastDbId: number, cursor: { value: number; id: number } | null = null): void => {
      for (let b = 0; b < catalog.gids.length; b++) {
        if (listed.has(b)) continue;
        const need = required(b, ctx.t0);
        const dbId = catalog.dbIds[b]!;
        const highest = cursor ? highestStarted(b, ctx.t1) : Number.POSITIVE_INFINITY;
        const belowCursor = !cursor || highest < cursor.value || (highest === cursor.value && dbId < cursor.id);
        if (belowCursor && (need > lastValue || (need === lastValue && dbId > lastDbId))) {
          counts.staleValues++;
          ctx.stale = true;
          const missed = history[b]!.filter((w) => w.version >= lastValue && w.ack !== null && w.ack < ctx.t0)
            .map((w) => ({ version: w.version, kind: w.kind, start: w.start, ack: w.ack!, overdueMs: ctx.t0 - w.ack! - bound[w.kind], epoch: w.epoch }));
          if (countStale(missed)) {
            staleSamples.push({
              readType: ctx.type, server: ctx.server, source: 'membership', book: b, bookId: catalog.gids[b]!, dbId: catalog.dbIds[b]!,
              t0: ctx.t0, t1: ctx.t1, read: lastValue, required: need, missed,
              detail: `missing from the page, whose last row is db id ${lastDbId} at ${lastValue}` + (cursor ? ` (after db id ${cursor.id} at ${cursor.value})` : ''),
            });
          }
        }
      }
    };

    const bookOf = (ctx: ReadContext, node: unknown): { b: number; price: unknown } | null => {
      const n = node as { id?: unknown; priceCents?: unknown } | null;
      const b = typeof n?.id === 'string' ? catalog.indexOfGid.get(n.id) : undefined;
      if (b === undefined) {
        error(`${ctx.type} on server ${ctx.server}: unexpected node ${JSON.stringify(node)}`);
        return null;
      }
      return { b, price: n!.priceCents };
    };

    /** One read: posts, then checks every value of the answer. */
    let readsSent = 0;
    const read = async (type: ReadType, server: number, query: string, variables: Record<string, unknown> | undefined, expect: (number | null)[] | null): Promise<string | null> => {
      const t0 = now();
      let response: GraphQLAnswer;
      try {
        // Every other read untraced: a traced request bypasses the whole-response cache, which
        // must be checked as hard as the loaders.
        response = await post(server, query, variables, readsSent++ % 2 === 0);
      } catch (e) {
        error(`${type} on server ${server}: ${(e as Error).message}`);
        return null;
      }
      if (response.responseCache === 'HIT') counts.responseCacheHits++;
      const ctx: ReadContext = { type, server, t0, t1: now(), stale: false, answer: response };
      counts.reads++;
      counts.readsByType[type]++;
      if (response.status !== 200 || response.errors || !response.data) {
        error(`${type} on server ${server}: HTTP ${response.status} ${JSON.stringify(response.errors ?? response.data).slice(0, 300)}`);
        return null;
      }
      const data = response.data as Record<string, any>;
      let lastCursor: string | null = null;
      if (expect) {
        // book / books4 / followUp: the aliases in order.
        const values = Object.values(data);
        values.forEach((node, i) => {
          const found = bookOf(ctx, node);
          if (!found) return;
          if (found.b !== expect[i]) error(`${type}: asked for book #${expect[i]}, got #${found.b}`);
          checkValue(ctx, found.b, found.price, 'node');
        });
      } else {
        const edges = (data.books?.edges ?? []) as { cursor?: string; node: unknown }[];
        if (edges.length !== 20) error(`${type}: ${edges.length} edges, expected 20`);
        const listed = new Set<number>();
        let last: { value: number; id: number } | null = null;
        let previous: { value: number; id: number } | null = null;
        for (const edge of edges) {
          const found = bookOf(ctx, edge.node);
          if (!found) continue;
          listed.add(found.b);
          checkValue(ctx, found.b, found.price, 'node');
          if (type === 'byPrice' || type === 'byPriceNext') {
            const position = decodePriceCursor(edge.cursor);
            if (!position || position.id !== catalog.dbIds[found.b]) {
              error(`byPrice: cursor ${edge.cursor} does not name book #${found.b}`);
              continue;
            }
            checkValue(ctx, found.b, position.value, 'pageSort');
            if (previous && (position.value > previous.value || (position.value === previous.value && position.id > previous.id))) {
              error(`byPrice: page out of order at db id ${position.id} (${position.value} after ${previous.value})`);
            }
            previous = last = position;
          }
        }
        if (type === 'byPrice' && last && edges.length === 20) checkMembership(ctx, listed, last.value, last.id);
        if (type === 'byPriceNext' && last && edges.length === 20) {
          const cursor = decodePriceCursor(variables?.after as string | undefined);
          if (cursor) checkMembership(ctx, listed, last.value, last.id, cursor);
          else error(`byPriceNext: unreadable cursor ${String(variables?.after)}`);
        }
        lastCursor = edges.at(-1)?.cursor ?? null;
        if (type === 'byDefault') {
          // No inserts or deletes: the default order (id descending) always lists the 20 highest ids.
          const ids = [...listed].map((b) => catalog.dbIds[b]!).sort((x, y) => y - x);
          const top = [...catalog.dbIds].sort((x, y) => y - x).slice(0, 20);
          if (JSON.stringify(ids) !== JSON.stringify(top)) error(`byDefault: listed ${ids.join(',')}, expected ${top.join(',')}`);
        }
      }
      if (ctx.stale) counts.staleReads++;
      return lastCursor;
    };

    // --- Sampling ------------------------------------------------------------------------------
    const random = mulberry32(options.seed);
    const hot = shuffled(catalog.gids.map((_, i) => i), random); // hot[0] is the hottest book
    const pickBook = zipfSampler(options.books, options.zipf, random, hot);
    const pickServer = () => Math.floor(random() * servers.length);

    // --- The plain-SQL writer: is the change feed there? --------------------------------------
    let kinds = [...new Set(options.kinds)];
    let sqlSkipped: string | undefined;
    let sqlProbeMs: number | undefined;
    if (kinds.includes('sql')) {
      if (options.sql === 'off') sqlSkipped = 'skipped on request (--no-sql)';
      else if (options.sql === 'auto' && !(await hasTrigger(admin, 'book'))) {
        sqlSkipped = 'skipped: table book has no trigger, so the PostgreSQL change feed (LISTEN/NOTIFY) is not installed';
      }
      if (sqlSkipped) {
        kinds = kinds.filter((k) => k !== 'sql');
        progress(`plain-SQL writer ${sqlSkipped}`);
      }
    }

    const sqlClients: pg.Client[] = [];
    resources.push({ name: 'close the SQL writers', close: () => Promise.all(sqlClients.map((c) => c.end())) });
    if (kinds.includes('sql')) {
      for (let i = 0; i < options.writersPerKind; i++) {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        sqlClients.push(client);
      }
      sqlProbeMs = await probeSqlFeed();
      progress(`plain-SQL probe: an UPDATE was served by every server ${sqlProbeMs.toFixed(1)} ms after it returned`);
    }

    /** Warms a cold book on every server, writes it by plain SQL, and waits until every server serves it. */
    async function probeSqlFeed(): Promise<number> {
      const b = hot[hot.length - 1]!;
      for (let s = 0; s < servers.length; s++) {
        for (let i = 0; i < 2; i++) await post(s, BOOK_QUERY, { id: catalog.gids[b] });
      }
      const version = ++issued[b]!;
      const entry: WriteEntry = { version, kind: 'sql', start: now(), ack: null, failed: false };
      history[b]!.push(entry);
      await admin.query('UPDATE book SET price_cents = $1 WHERE id = $2', [version, catalog.dbIds[b]]);
      entry.ack = now();
      counts.writes.sql++;
      const pending = new Set(servers.map((_, s) => s));
      while (pending.size > 0) {
        const elapsed = now() - entry.ack;
        if (elapsed > PROBE_TIMEOUT_MS) {
          throw new Error(
            `plain-SQL probe: an UPDATE of book ${catalog.dbIds[b]} (price_cents = ${version}) was still not served by server(s) ` +
            `${[...pending].join(', ')} ${PROBE_TIMEOUT_MS} ms after it committed, with a warm cache. The PostgreSQL change feed ` +
            '(triggers + LISTEN/NOTIFY, started by src/server/app.ts) is not wired or not delivering; run with --no-sql to skip the plain-SQL writer.',
          );
        }
        for (const s of [...pending]) {
          const answer = await post(s, BOOK_QUERY, { id: catalog.gids[b] });
          if (answer.data?.book?.priceCents === version) pending.delete(s);
        }
        if (pending.size > 0) await sleep(2);
      }
      return now() - entry.ack;
    }

    // --- Writers -------------------------------------------------------------------------------
    const locks = catalog.gids.map(() => Promise.resolve());
    const held = catalog.gids.map(() => 0); // writers holding or waiting for each book's lock
    const withBookLock = async <T>(b: number, work: () => Promise<T>): Promise<T> => {
      const previous = locks[b]!;
      let release!: () => void;
      locks[b] = new Promise<void>((r) => { release = r; });
      held[b]!++;
      await previous;
      try {
        return await work();
      } finally {
        held[b]!--;
        release();
      }
    };
    /**
     * The book to write next: Zipf-skewed like the reads, but a book another writer holds is passed
     * over (up to 8 draws), so the hottest books are written back to back without the whole write
     * rate queueing behind one book's lock.
     */
    const pickWriteBook = (): number => {
      let b = pickBook();
      for (let draw = 1; draw < 8 && held[b]! > 0; draw++) b = pickBook();
      return b;
    };

    /** Performs one write; an ORM write answers the epoch it invalidated in. */
    const writeOnce = async (kind: WriteKind, b: number, version: number, slot: number): Promise<string | void> => {
      switch (kind) {
        case 'graphql': {
          const answer = await post(pickServer(), UPDATE_MUTATION, { id: catalog.gids[b], p: version });
          if (answer.status !== 200 || answer.errors || answer.data?.updateBook?.priceCents !== version) {
            throw new Error(`updateBook: HTTP ${answer.status} ${JSON.stringify(answer.errors ?? answer.data).slice(0, 300)}`);
          }
          return;
        }
        case 'orm': {
          const epochBefore = cache.epoch.current();
          const em = orm.em.fork();
          const book = await em.findOneOrFail(Book, catalog.dbIds[b]!);
          em.assign(book, { priceCents: version });
          await em.flush();
          const epochAfter = cache.epoch.current();
          return epochBefore === epochAfter ? String(epochAfter) : `${epochBefore}→${epochAfter}`;
        }
        case 'sql': {
          const result = await sqlClients[slot]!.query('UPDATE book SET price_cents = $1 WHERE id = $2', [version, catalog.dbIds[b]]);
          if (result.rowCount !== 1) throw new Error(`UPDATE book ${catalog.dbIds[b]}: ${result.rowCount} rows`);
          return;
        }
      }
    };

    const inFlight = new Set<Promise<void>>();
    const track = (p: Promise<void>) => {
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    };
    const followUp = async (b: number): Promise<void> => { await read('followUp', pickServer(), BOOK_QUERY, { id: catalog.gids[b] }, [b]); };

    let stopping = false;
    const interval = 1000 / (options.writeRate / kinds.length);
    const writerLoop = async (kind: WriteKind, slot: number, pacer: { next: number }) => {
      while (!stopping) {
        const at = pacer.next;
        pacer.next = Math.max(pacer.next, now()) + interval;
        if (at > now()) await sleep(at - now());
        if (stopping) return;
        const b = pickWriteBook();
        const entry = await withBookLock(b, async () => {
          const version = ++issued[b]!; // under the lock: the book's versions commit in order
          const entry: WriteEntry = { version, kind, start: now(), ack: null, failed: false };
          history[b]!.push(entry);
          try {
            const epoch = await writeOnce(kind, b, version, slot);
            entry.ack = now();
            if (epoch) entry.epoch = epoch;
            counts.writes[kind]++;
            writeLatencies[kind].push(entry.ack - entry.start);
          } catch (e) {
            entry.failed = true; // may or may not have committed: it binds no read
            error(`${kind} write of book #${b} v${version}: ${(e as Error).message}`);
          }
          return entry;
        });
        if (options.followUps && entry.ack !== null) {
          track(followUp(b)); // at once: the tightest race with the invalidation
          if (bound[kind] > 0) track(sleep(bound[kind] + 1).then(() => followUp(b))); // just after the bound
        }
      }
    };

    // --- Tombstone watch (white-box) -----------------------------------------------------------
    const tombstones = {
      regressions: 0, samples: [] as string[],
      /** Every change of each book's tombstone the watcher saw (time, shared epoch, value). */
      log: catalog.gids.map(() => [] as { at: number; epoch: number; value: number }[]),
    };
    const epochTimeline: { at: number; who: 'shared' | 'orm writer'; epoch: number }[] = [];
    let lastShared = -1;
    let lastOrm = -1;
    const watchRedis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await watchRedis.connect();
    resources.push({ name: 'close the tombstone watch', close: async () => watchRedis.disconnect() });
    async function watchTombstones(): Promise<void> {
      const last = new Map<string, number>();
      while (!stopping) {
        const keys = catalog.dbIds.map((id) => cache.keyspace.tombstone('Book', id));
        let values: (string | null)[];
        try {
          values = await watchRedis.mget(...keys, epochKey(prefix));
        } catch {
          await sleep(10);
          continue;
        }
        const at = now();
        const shared = Number(values.pop() ?? 0);
        if (shared !== lastShared) epochTimeline.push({ at, who: 'shared', epoch: (lastShared = shared) });
        if (cache.epoch.current() !== lastOrm) epochTimeline.push({ at, who: 'orm writer', epoch: (lastOrm = cache.epoch.current()) });
        keys.forEach((key, i) => {
          const raw = values[i];
          if (raw === null || raw === undefined) return;
          const value = Number(raw);
          const before = last.get(key);
          if (before !== undefined && value < before) {
            tombstones.regressions++;
            if (tombstones.samples.length < SAMPLE_LIMIT) {
              tombstones.samples.push(`at ${at.toFixed(0)} ms: tombstone of book ${catalog.dbIds[i]} went from ${before} down to ${value}`);
            }
          }
          if (before !== value) tombstones.log[i]!.push({ at, epoch: lastShared, value });
          last.set(key, value);
        });
        await sleep(2);
      }
    }

    // --- Fault injection: stalls ---------------------------------------------------------------
    const stalls: string[] = [];
    async function stallServers(): Promise<void> {
      while (!stopping) {
        await sleep(options.stallEveryMs);
        if (stopping) return;
        const s = pickServer();
        const child = servers[s]!.child;
        const at = now();
        child.kill('SIGSTOP');
        try {
          await sleep(options.stallMs);
        } finally {
          child.kill('SIGCONT');
        }
        stalls.push(`server ${s} ${at.toFixed(0)}..${now().toFixed(0)} ms`);
      }
    }

    // --- Readers -------------------------------------------------------------------------------
    const readerLoop = async () => {
      while (!stopping) {
        const server = pickServer();
        const r = random();
        if (r < 0.45) {
          const b = pickBook();
          await read('book', server, BOOK_QUERY, { id: catalog.gids[b] }, [b]);
        } else if (r < 0.6) {
          const bs = [pickBook(), pickBook(), pickBook(), pickBook()];
          await read('books4', server, BOOKS4_QUERY, { a: catalog.gids[bs[0]!], b: catalog.gids[bs[1]!], c: catalog.gids[bs[2]!], d: catalog.gids[bs[3]!] }, bs);
        } else if (r < 0.85) {
          const after = await read('byPrice', server, BY_PRICE_QUERY, undefined, null);
          // Half the time the walk goes on, on another server: the next page's range is closed.
          if (after && random() < 0.5) await read('byPriceNext', pickServer(), BY_PRICE_AFTER_QUERY, { after }, null);
        } else {
          await read('byDefault', server, BY_DEFAULT_QUERY, undefined, null);
        }
      }
    };

    // --- Run -----------------------------------------------------------------------------------
    const start = now();
    const deadline = start + options.seconds * 1000;
    const hardDeadline = start + options.seconds * 10_000;
    const loops: Promise<void>[] = [];
    for (const kind of kinds) {
      const pacer = { next: start };
      for (let slot = 0; slot < options.writersPerKind; slot++) loops.push(writerLoop(kind, slot, pacer));
    }
    for (let i = 0; i < options.readers; i++) loops.push(readerLoop());
    loops.push(watchTombstones());
    if (options.stallMs > 0) loops.push(stallServers());

    const everyMs = input.progressEveryMs ?? 10_000;
    let lastReport = start;
    while (true) {
      await sleep(50);
      const t = now();
      if ((t >= deadline && counts.reads >= options.minReads) || t >= hardDeadline || input.signal?.aborted) break;
      if (t - lastReport >= everyMs) {
        lastReport = t;
        const s = (t - start) / 1000;
        progress(`${s.toFixed(0)} s: ${counts.reads} reads (${Math.round(counts.reads / s)}/s, ${counts.responseCacheHits} whole from the response cache), stale ${counts.staleReads}, ` +
          `impossible ${counts.impossible}, errors ${counts.errors}, writes ${kinds.map((k) => `${k} ${counts.writes[k]}`).join(', ')}`);
      }
    }
    stopping = true;
    progress(`stopping: waiting for ${loops.length} loops`);
    await Promise.all(loops);
    progress(`stopping: waiting for ${inFlight.size} follow-up reads`);
    const durationMs = now() - start;
    await Promise.all([...inFlight]);
    const serverMetrics = await Promise.all(servers.map((s) => scrapeMetrics(s.url)));

    outcome = {
      options,
      kinds,
      sqlSkipped,
      sqlProbeMs,
      durationMs,
      interrupted: input.signal?.aborted ?? false,
      reads: counts.reads,
      responseCacheHits: counts.responseCacheHits,
      lateLandings: counts.lateLandings,
      readsByType: counts.readsByType,
      readsPerSecond: counts.reads / (durationMs / 1000),
      observations: counts.observations,
      staleReads: counts.staleReads,
      staleValues: counts.staleValues,
      staleByKind: counts.staleByKind,
      staleSamples: staleSamples.map((sample) => ({
        ...sample,
        tombstones: tombstones.log[sample.book]!.filter((c) => c.at >= sample.t0 - 300 && c.at <= sample.t1)
          .map((c) => `${c.value} (epoch ${c.epoch}) at ${c.at.toFixed(0)}`).join(', ') || 'no change seen',
      })),
      impossible: counts.impossible,
      impossibleSamples,
      errors: counts.errors,
      errorSamples,
      writes: counts.writes,
      writeLatencyMs: Object.fromEntries(WRITE_KINDS.map((k) => [k, summarize(writeLatencies[k])])) as Record<WriteKind, LatencySummary>,
      maxStalenessMs: counts.maxStaleness,
      laggingWithinBound: counts.lagging,
      maxVersion: Math.max(...issued),
      stalls,
      tombstoneRegressions: tombstones.regressions,
      epochTimeline,
      tombstoneSamples: tombstones.samples,
      serverMetrics,
    };
  } finally {
    await closeAll();
  }
  // Read after shutdown, so that what the servers logged while stopping counts too. Times are put
  // on this process's clock (performance.now()), the one stale reads and acks are reported on.
  const serverWarnings = servers.flatMap((s, i) => s.output().split('\n').flatMap((line) => {
    if (!line.trim()) return [];
    let entry: { level?: number; time?: number; msg?: string; err?: { message?: string }; evictions?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      return [`server ${i}: ${line.slice(0, 300)}`];
    }
    if ((entry.level ?? 0) < 40) return [];
    const at = typeof entry.time === 'number' ? ` at ${(entry.time - performance.timeOrigin).toFixed(0)} ms` : '';
    const err = entry.err?.message ? ` (${entry.err.message})` : '';
    const evictions = entry.evictions ? ` ${JSON.stringify(entry.evictions).slice(0, 300)}` : '';
    return [`server ${i}${at}: ${entry.msg}${err}${evictions}`];
  }));
  return { ...outcome, serverWarnings: [...serverWarnings, ...ormWarnings, ...shutdownNotes] };
}

/** Whether a run met the requirement: nothing stale, nothing impossible, no errors, every kind wrote. */
export function passed(result: StressResult): boolean {
  return result.staleReads === 0 && result.impossible === 0 && result.errors === 0 && result.kinds.every((k) => result.writes[k] > 0);
}

/** A human-readable report of a run. */
export function formatReport(result: StressResult): string {
  const ms = (v: number | null) => (v === null ? 'never behind' : `${v.toFixed(1)} ms`);
  const boundOf = (k: WriteKind) => (k === 'sql' ? result.options.sqlBoundMs : 0);
  const lines = [
    `consistency stress: ${result.options.servers} server process(es), ${result.options.readers} readers, ${result.options.books} books ` +
      `(Zipf ${result.options.zipf}), target ${result.options.writeRate} writes/s, ${(result.durationMs / 1000).toFixed(1)} s` +
      (result.options.stallMs > 0 ? `, a ${result.options.stallMs} ms stall of one server every ${result.options.stallEveryMs} ms` : '') +
      (Object.keys(result.options.serverEnv).length > 0 ? `, servers with ${Object.entries(result.options.serverEnv).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''),
    `  reads:        ${result.reads} (${Math.round(result.readsPerSecond)}/s): ` +
      READ_TYPES.map((t) => `${t} ${result.readsByType[t]}`).join(', ') + `; ${result.observations} values checked; ` +
      `${result.responseCacheHits} answered whole by the response cache (half the reads are traced, which bypasses it)`,
    `  stale reads:  ${result.staleReads} (${result.staleValues} values; missing an overdue write of kind ${WRITE_KINDS.map((k) => `${k} ${result.staleByKind[k]}`).join(', ')})`,
    `  impossible:   ${result.impossible}`,
    `  late landings: ${result.lateLandings} values of writes whose request failed (they may land after newer writes; not checked)`,
    `  errors:       ${result.errors}`,
    `  writes:       ${result.kinds.reduce((n, k) => n + result.writes[k], 0)} (${Math.round(result.kinds.reduce((n, k) => n + result.writes[k], 0) / (result.durationMs / 1000))}/s)`,
    ...WRITE_KINDS.map((k) => {
      if (!result.kinds.includes(k)) {
        return `    ${k.padEnd(8)} not run${k === 'sql' && result.sqlSkipped ? `: ${result.sqlSkipped}` : ''}`;
      }
      const l = result.writeLatencyMs[k];
      return `    ${k.padEnd(8)} ${String(result.writes[k]).padStart(7)}  latency p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms; ` +
        `bound ${boundOf(k)} ms; max observed staleness ${ms(result.maxStalenessMs[k])} (${result.laggingWithinBound[k]} values behind within the bound)`;
    }),
    `  highest version of one book: ${result.maxVersion}`,
  ];
  if (result.stalls.length > 0) lines.push(`  stalls injected: ${result.stalls.join(', ')}`);
  lines.push(`  epochs: ${result.epochTimeline.map((e) => `${e.who} ${e.epoch} at ${e.at.toFixed(0)} ms`).join(', ')}`);
  lines.push(`  tombstone regressions seen: ${result.tombstoneRegressions}`, ...result.tombstoneSamples.slice(0, 5).map((t) => `    ${t}`));
  result.serverMetrics.forEach((m, i) => {
    if (!m) return;
    const looked = m.cacheHits + m.cacheMisses;
    lines.push(`  server ${i}: cache hit ratio ${looked ? ((100 * m.cacheHits) / looked).toFixed(1) : '-'}% of ${looked} loader keys; ` +
      `${m.invalidations} invalidations, ${m.lostInvalidations} lost, ${m.epochBumps} epoch bumps, ${m.redisFailures} failed Redis round trips; ` +
      `change feed: ${m.feedApplied} notifications, trigger-to-eviction delay (includes the rest of the writer's transaction) ` +
      `mean ${m.feedMeanMs === null ? '-' : `${m.feedMeanMs.toFixed(1)} ms`}, ${m.feedOver100ms} over 100 ms, ${m.feedOver250ms} over 250 ms`);
  });
  if (result.sqlProbeMs !== undefined) lines.push(`  plain-SQL probe: an UPDATE was served by every server ${result.sqlProbeMs.toFixed(1)} ms after it returned`);
  if (result.serverWarnings.length > 0) lines.push(`  warnings: ${result.serverWarnings.length}`, ...result.serverWarnings.slice(0, 30).map((w) => `    ${w}`));
  for (const s of result.staleSamples) {
    lines.push(`  STALE ${s.source} in ${s.readType} (server ${s.server}) of book ${s.dbId} [${s.bookId}]: read v${s.read}, required v${s.required}; ` +
      `request ${s.t0.toFixed(1)}..${s.t1.toFixed(1)} ms${s.detail ? `; ${s.detail}` : ''}${s.cache ? `; server cache: ${s.cache}` : ''}${s.requestId ? ` (request ${s.requestId})` : ''}`);
    if (s.tombstones) lines.push(`        tombstone seen: ${s.tombstones}`);
    for (const w of s.missed) {
      lines.push(`        missed v${w.version} (${w.kind}${w.epoch !== undefined ? `, invalidated in epoch ${w.epoch}` : ''}): started ${w.start.toFixed(1)}, acked ${w.ack.toFixed(1)} (${(s.t0 - w.ack).toFixed(1)} ms before the read; overdue ${w.overdueMs.toFixed(1)} ms)`);
    }
  }
  for (const s of result.impossibleSamples) lines.push(`  IMPOSSIBLE ${s}`);
  for (const s of result.errorSamples) lines.push(`  ERROR ${s}`);
  if (result.interrupted) lines.push('  (interrupted before the planned end)');
  lines.push(passed(result) ? '  result: PASS (no stale read)' : '  result: FAIL');
  return lines.join('\n');
}

// --- Helpers ------------------------------------------------------------------------------------

/**
 * How long a server may take to exit after SIGTERM before it is killed. Nothing is in flight by
 * then. (Outside Jest, i.e. NODE_ENV ≠ test, `npm start` currently never exits on SIGTERM: Apollo
 * Server's own termination handler and main.ts's both stop it, and Apollo 5's second concurrent
 * stop() waits on a barrier that a successful stop never resolves. The run reports it and kills.)
 */
const STOP_GRACE_MS = 5_000;

/** SIGTERM (a graceful drain), then SIGKILL if the process has not exited after STOP_GRACE_MS. */
async function stopServer(server: ServerProcess, index: number, notes: string[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<'killed'>((resolve) => {
    timer = setTimeout(() => {
      server.child.kill('SIGKILL');
      resolve('killed');
    }, STOP_GRACE_MS);
  });
  const outcome = await Promise.race([server.stop(), killed]);
  clearTimeout(timer);
  if (outcome === 'killed') notes.push(`server ${index} did not exit ${STOP_GRACE_MS / 1000} s after SIGTERM: killed`);
}

interface GraphQLAnswer {
  status: number; data?: any; errors?: unknown[]; extensions?: { cache?: CacheTraceLike }; requestId?: string;
  /** The x-response-cache header: HIT when the whole answer came from the response cache. */
  responseCache?: string;
}

/** The part of a server's `extensions.cache` trace (src/server/request-trace.ts) a stale sample keeps. */
interface CacheTraceLike { hit?: { items?: string[] }; missed?: { items?: string[] }; filled?: { items?: string[] } }

function postGraphQL(agent: Agent, baseUrl: string, query: string, variables?: Record<string, unknown>, traced = true): Promise<GraphQLAnswer> {
  const url = new URL('/graphql', baseUrl);
  const body = JSON.stringify({ query, variables });
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent,
      // x-cache-trace: the server adds what it read from the cache, missed and filled (kept for stale samples).
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(traced ? { 'x-cache-trace': '1' } : {}) },
      timeout: REQUEST_TIMEOUT_MS,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        try {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<GraphQLAnswer, 'status'>;
          const requestId = res.headers['x-request-id'];
          const responseCache = res.headers['x-response-cache'];
          resolve({
            status: res.statusCode ?? 0, data: parsed.data, errors: parsed.errors, extensions: parsed.extensions,
            requestId: typeof requestId === 'string' ? requestId : undefined, responseCache: typeof responseCache === 'string' ? responseCache : undefined,
          });
        } catch (e) {
          reject(new Error(`HTTP ${res.statusCode}: unreadable body (${(e as Error).message})`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Reads a server's GET /metrics (Prometheus text); null when it has none. */
async function scrapeMetrics(baseUrl: string): Promise<ServerMetrics | null> {
  let text: string;
  try {
    const res = await fetch(new URL('/metrics', baseUrl), { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return null;
    text = await res.text();
  } catch {
    return null;
  }
  const sum = (name: string, labels?: RegExp) => text.split('\n').reduce((total, line) => {
    const match = /^([a-z_:]+)(\{[^}]*\})? ([0-9.eE+-]+|NaN|\+Inf)$/.exec(line);
    if (!match || match[1] !== name || (labels && !labels.test(match[2] ?? ''))) return total;
    const value = Number(match[3]);
    return Number.isFinite(value) ? total + value : total;
  }, 0);
  const p = 'catalog_';
  const feedCount = sum(`${p}change_feed_delay_seconds_count`);
  return {
    cacheHits: sum(`${p}cache_hits_total`),
    cacheMisses: sum(`${p}cache_misses_total`),
    invalidations: sum(`${p}cache_invalidations_total`),
    lostInvalidations: sum(`${p}cache_invalidations_lost_total`),
    epochBumps: sum(`${p}cache_epoch_bumps_total`),
    redisFailures: sum(`${p}redis_failures_total`),
    feedApplied: feedCount,
    feedMeanMs: feedCount > 0 ? (1000 * sum(`${p}change_feed_delay_seconds_sum`)) / feedCount : null,
    feedOver100ms: feedCount - sum(`${p}change_feed_delay_seconds_bucket`, /le="0\.1"/),
    feedOver250ms: feedCount - sum(`${p}change_feed_delay_seconds_bucket`, /le="0\.25"/),
  };
}

/** Ten authors and `books` books at price 0 (version 0), inserted by plain SQL before any server runs. */
async function seedCatalog(client: pg.Client, books: number): Promise<void> {
  await client.query(`INSERT INTO author (name) SELECT 'Stress author ' || a FROM generate_series(1, 10) AS a`);
  await client.query(
    `INSERT INTO book (title, isbn, price_cents, published_year, author_id)
     SELECT 'Stress book ' || i, 'stress-' || i, 0, 1950 + i % 70, (SELECT min(id) FROM author) + i % 10
     FROM generate_series(1, $1::int) AS i`,
    [books],
  );
}

/** Book ids as clients see them (from the API, never built) and as the database has them. */
async function readCatalog(client: pg.Client, post: (server: number, query: string, variables?: Record<string, unknown>) => Promise<GraphQLAnswer>, books: number): Promise<Catalog> {
  const gidByIsbn = new Map<string, string>();
  let after: string | null = null;
  do {
    const answer = await post(0, 'query P($after: String) { books(first: 100, after: $after) { edges { node { id isbn } } pageInfo { hasNextPage endCursor } } }', { after });
    if (answer.errors || !answer.data) throw new Error(`listing books: ${JSON.stringify(answer.errors)}`);
    for (const { node } of answer.data.books.edges as { node: { id: string; isbn: string } }[]) gidByIsbn.set(node.isbn, node.id);
    after = answer.data.books.pageInfo.hasNextPage ? answer.data.books.pageInfo.endCursor : null;
  } while (after !== null);
  const { rows } = await client.query<{ id: number; isbn: string }>('SELECT id, isbn FROM book ORDER BY id');
  if (rows.length !== books || gidByIsbn.size !== books) throw new Error(`expected ${books} books, the database has ${rows.length}, the API ${gidByIsbn.size}`);
  const gids = rows.map((r) => gidByIsbn.get(r.isbn)!);
  const dbIds = rows.map((r) => Number(r.id));
  return {
    gids, dbIds,
    indexOfGid: new Map(gids.map((g, i) => [g, i])),
  };
}

async function hasTrigger(client: pg.Client, table: string): Promise<boolean> {
  const { rows } = await client.query<{ n: string }>(
    'SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal', [table]);
  return Number(rows[0]?.n ?? 0) > 0;
}

/** A PRICE DESC cursor's keyset position (the page's own copy of the row's price), white-box. */
function decodePriceCursor(cursor: string | undefined): { value: number; id: number } | null {
  if (!cursor) return null;
  try {
    const [order, value, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    return order === PAGE_ORDER && typeof value === 'number' && typeof id === 'number' ? { value, id } : null;
  } catch {
    return null;
  }
}

/** Unlinks every key under the run's prefix (SCAN: cleanup only, as the tests do). */
async function cleanRedis(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

function summarize(values: number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! };
}


function shuffled<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Draws items[rank] with probability ∝ 1 / (rank + 1)^s. */
function zipfSampler<T>(n: number, s: number, random: () => number, items: readonly T[]): () => T {
  const rank = zipfRank(n, s, random);
  return () => items[rank()]!;
}
