/**
 * The benchmark suite (issue 6, item 5): Q1, Q2 and Q3 (workload.ts) against ours with the cache on,
 * ours with the cache off, and Apollo Server's response cache (targets.ts), in one run, on one
 * database seeded once. `runSuite` is used by `npm run bench` / `npm run bench:smoke` (run.ts) and by
 * the smoke test (test/bench/suite-smoke.test.ts).
 *
 * Per target, in this order: start it (fresh Redis prefix: a cold cache), probe it (answers are
 * right; a repeated Q1 — does it come back from a cache, `age` header?), Q1 warm-up then Q1 measured,
 * Q2 warm-up then Q2 measured, Q3 measured, stop it, restore the data Q3 wrote. SQL statements and
 * Redis round trips are read from the target's counters before and after each measured phase.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, release, totalmem, type as osType } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { openOrm } from '../../src/orm/open-orm.ts';
import type { SeedCounts } from '../../src/orm/seed/seed-catalog.ts';
import { createBenchDatabase, restoreCatalog, seedAndLoad } from './database.ts';
import { spawnTarget, startTarget, TARGET_KINDS, TARGET_LABELS, type Target, type TargetCounters, type TargetKind } from './targets.ts';
import { createPoster, OPERATION_KINDS, Q1_QUERY, Q2_QUERY, runMixed, runQ1, runQ2, sweepQ1, zipfSampler, mulberry32, type LoadResult, type MixResult } from './workload.ts';

export const SCENARIOS = ['Q1', 'Q2', 'Q3'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const SCENARIO_LABELS: Record<Scenario, string> = {
  Q1: 'Q1 book(id) Zipf, warm',
  Q2: 'Q2 books by PRICE, cursor walk',
  Q3: 'Q3 95% read / 5% write, right after warm-up',
};

export interface SuiteOptions {
  readonly mode: 'full' | 'smoke';
  /** A PostgreSQL server (`postgres://…`; a database `bench_suite_<random>` is created on it), or undefined for SQLite. */
  readonly databaseServerUrl: string | undefined;
  readonly redisUrl: string;
  readonly counts: SeedCounts;
  /** autocannon connections (Q1, Q2) and concurrent workers (Q3). */
  readonly connections: number;
  readonly seconds: { readonly q1Warmup: number; readonly q1: number; readonly q2Warmup: number; readonly q2: number; readonly q3: number };
  readonly zipf: number;
  /**
   * Before Q1's warm-up, ask Q1 once for each of this many hottest books (0: no sweep). A count,
   * not a time: every target warms the same books, however fast its cold path (a sweep bounded by
   * time warmed fewer books on a slower target, which then missed more in Q3).
   */
  readonly sweepBooks: number;
  /** Run each target in its own process (else in this one, sharing the load generator's event loop). */
  readonly isolate: boolean;
  readonly targets?: readonly TargetKind[];
  readonly seed?: number;
  readonly log?: (line: string) => void;
}

/** A sweep that has not reached its count by then stops there (it reports how many books it reached). */
const SWEEP_MAX_SECONDS = 120;

export function fullOptions(overrides: Partial<SuiteOptions> = {}): SuiteOptions {
  return {
    mode: 'full',
    databaseServerUrl: process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    counts: { authors: 1_000, books: 20_000, reviews: 100_000 },
    connections: 24,
    seconds: { q1Warmup: 5, q1: 10, q2Warmup: 3, q2: 10, q3: 10 },
    zipf: 1.1,
    sweepBooks: 10_000,
    isolate: true,
    ...overrides,
  };
}

export function smokeOptions(overrides: Partial<SuiteOptions> = {}): SuiteOptions {
  return {
    ...fullOptions(),
    mode: 'smoke',
    databaseServerUrl: undefined,
    counts: { authors: 50, books: 500, reviews: 2_000 },
    connections: 8,
    seconds: { q1Warmup: 0.5, q1: 1.5, q2Warmup: 0.5, q2: 1.5, q3: 1.5 },
    sweepBooks: 200,
    ...overrides,
  };
}

export interface Measurement {
  readonly scenario: Scenario;
  readonly target: TargetKind;
  readonly load: LoadResult;
  /** Only for Q3. */
  readonly mix: MixResult | null;
  readonly sqlPerRequest: number;
  readonly transactionControlPerRequest: number;
  readonly redisRoundTripsPerRequest: number;
  /** CPU time of the target's process per request (ms); null when it shares the load generator's process. */
  readonly serverCpuMsPerRequest: number | null;
  /** A response cache (ours, Apollo's): share of the lookups it answered. */
  readonly responseCacheHitRate: number | null;
  /** The machine's 1-minute load average when the phase ended (other processes show up here). */
  readonly loadAverage: number;
}

export interface Probe {
  readonly target: TargetKind;
  readonly startSeconds: number;
  /** `age` header of the second of two identical Q1 requests (only a response cache sets it). */
  readonly repeatedQ1Age: string | null;
  readonly q2FirstPageEdges: number;
  /** Books the warm-up sweep asked for (hottest first) before Q1's Zipf warm-up. */
  readonly sweptBooks: number;
}

export interface Check {
  readonly name: string;
  readonly value: string;
  readonly met: boolean;
}

export interface SuiteResult {
  readonly options: Omit<SuiteOptions, 'log'>;
  readonly date: string;
  readonly environment: Record<string, string>;
  readonly database: { readonly driver: string; readonly seedSeconds: number };
  readonly probes: readonly Probe[];
  readonly measurements: readonly Measurement[];
  readonly checks: readonly Check[];
  readonly durationSeconds: number;
}

export async function runSuite(options: SuiteOptions): Promise<SuiteResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const startedAt = performance.now();
  const seed = options.seed ?? 1;
  const base = `bench.suite.${randomBytes(4).toString('hex')}`;
  const kinds = options.targets ?? TARGET_KINDS;
  const db = await createBenchDatabase(options.databaseServerUrl);
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const environment: Record<string, string> = {};
  const measurements: Measurement[] = [];
  const probes: Probe[] = [];
  const sweeps = new Map<TargetKind, number>();
  let seedSeconds = 0;
  try {
    await redis.connect();
    const orm = await openOrm({ databaseUrl: db.url });
    try {
      log(`${options.mode}: ${db.driver} ${db.name}; seeding ${options.counts.authors} authors, ${options.counts.books} books, ${options.counts.reviews} reviews…`);
      const seeded = await seedAndLoad(orm, options.counts);
      seedSeconds = seeded.seedSeconds;
      log(`seeded in ${seedSeconds.toFixed(1)} s`);
      Object.assign(environment, await describeEnvironment(orm, db.driver, redis));

      for (const kind of kinds) {
        const startT = performance.now();
        const target = await (options.isolate ? spawnTarget : startTarget)({
          kind, databaseUrl: db.url, redisUrl: options.redisUrl, prefix: `${base}.${kind}`,
        });
        const startSeconds = (performance.now() - startT) / 1000;
        log(`\n${TARGET_LABELS[kind]} at ${target.url} (started in ${startSeconds.toFixed(1)} s)`);
        let touched: readonly number[] = [];
        try {
          probes.push({ ...(await probe(target, seeded.catalog.gids, options.zipf)), startSeconds, sweptBooks: 0 });
          const common = { url: target.url, connections: options.connections, seed };
          const { catalog } = seeded;

          if (options.sweepBooks > 0) {
            const sweepT = performance.now();
            const swept = await sweepQ1(target.url, catalog, options.connections, SWEEP_MAX_SECONDS, { from: 0, to: options.sweepBooks });
            if (swept.failures > 0) throw new Error(`sweep: ${swept.failures} Q1 requests failed`);
            sweeps.set(kind, swept.books);
            log(`  sweep: Q1 for ${swept.books} of ${catalog.gids.length} books (hottest first) in ${((performance.now() - sweepT) / 1000).toFixed(1)} s`);
          }
          if (options.seconds.q1Warmup > 0) await runQ1({ ...common, seconds: options.seconds.q1Warmup, catalog, zipf: options.zipf, seed: seed + 100 });
          measurements.push(await measure(target, 'Q1', options, () => runQ1({ ...common, seconds: options.seconds.q1, catalog, zipf: options.zipf })));

          if (options.seconds.q2Warmup > 0) await runQ2({ ...common, seconds: options.seconds.q2Warmup, seed: seed + 100 });
          measurements.push(await measure(target, 'Q2', options, () => runQ2({ ...common, seconds: options.seconds.q2 })));

          const q3 = await measure(target, 'Q3', options, () =>
            runMixed({ url: target.url, workers: options.connections, seconds: options.seconds.q3, catalog, zipf: options.zipf, seed }));
          measurements.push(q3);
          touched = q3.mix!.touchedBooks;
        } finally {
          await target.close();
          const restored = await restoreCatalog(orm, seeded, touched);
          log(`  stopped; restored ${restored} books and the seeded reviews`);
        }
      }
    } finally {
      await orm.close(true);
    }
  } finally {
    const removed = await unlinkPrefix(redis, base).catch(() => -1);
    log(`\ncleanup: unlinked ${removed} Redis keys under ${base}*; dropping ${db.name}`);
    redis.disconnect();
    await db.drop();
  }
  environment['load average (end)'] = loadavg().map((l) => l.toFixed(2)).join(', ');
  const { log: _log, ...recorded } = options;
  return {
    options: recorded,
    date: new Date().toISOString(),
    environment,
    database: { driver: db.driver, seedSeconds },
    probes: probes.map((p) => ({ ...p, sweptBooks: sweeps.get(p.target) ?? 0 })),
    measurements,
    checks: checksOf(measurements, probes),
    durationSeconds: (performance.now() - startedAt) / 1000,
  };
}

async function measure(target: Target, scenario: Scenario, options: SuiteOptions, run: () => Promise<LoadResult | MixResult>): Promise<Measurement> {
  const log = options.log ?? ((line: string) => console.log(line));
  await sleep(250); // let the previous phase's last requests finish
  const before = await target.counters();
  const load = await run();
  const after = await target.counters();
  const delta = (key: Exclude<keyof TargetCounters, 'lookups'>) => after[key] - before[key];
  const per = (n: number) => (load.requests > 0 ? n / load.requests : Number.NaN);
  const lookups = delta('responseCacheHits') + delta('responseCacheMisses');
  const mix = 'staleReads' in load ? (load as MixResult) : null;
  const m: Measurement = {
    scenario, target: target.kind, load, mix,
    sqlPerRequest: per(delta('statements')),
    transactionControlPerRequest: per(delta('transactionControl')),
    redisRoundTripsPerRequest: per(delta('redisRoundTrips')),
    serverCpuMsPerRequest: options.isolate ? per(delta('cpuMicros') / 1000) : null,
    responseCacheHitRate: lookups > 0 ? delta('responseCacheHits') / lookups : null,
    loadAverage: loadavg()[0]!,
  };
  log(`  ${scenario}: ${Math.round(load.reqPerSec)} req/s, p50 ${load.p50Ms.toFixed(2)} ms, p99 ${load.p99Ms.toFixed(2)} ms, ` +
    `${m.sqlPerRequest.toFixed(2)} SQL/req, ${m.redisRoundTripsPerRequest.toFixed(2)} Redis RT/req` +
    (m.serverCpuMsPerRequest !== null ? `, server CPU ${m.serverCpuMsPerRequest.toFixed(3)} ms/req` : '') +
    (m.responseCacheHitRate !== null ? `, response cache hits ${(m.responseCacheHitRate * 100).toFixed(1)}%` : '') +
    (mix ? `, ${mix.reads} reads / ${mix.writes.price + mix.writes.title + mix.writes.review} writes, stale reads ${mix.staleReads}` : '') +
    `, errors ${load.errors}, load ${m.loadAverage.toFixed(2)}`);
  for (const sample of [...load.errorSamples, ...(mix?.staleSamples ?? [])]) log(`    ${sample}`);
  return m;
}

/** Answers are right, and whether a repeated identical query comes back from a response cache. */
async function probe(target: Target, gids: readonly string[], zipf: number): Promise<Omit<Probe, 'startSeconds' | 'sweptBooks'>> {
  const poster = createPoster(target.url, 1);
  try {
    const id = gids[zipfSampler(gids.length, zipf, mulberry32(999))()]!;
    const first = await poster.post(Q1_QUERY, { id });
    if (first.status !== 200 || first.body?.data?.book?.id !== id) throw new Error(`probe: Q1 answered ${first.status} ${first.text.slice(0, 300)}`);
    // The response cache writes in the background: give it up to a second to land.
    let second = first;
    for (let attempt = 0; attempt < (target.kind === 'apollo' ? 10 : 1); attempt++) {
      await sleep(100);
      second = await poster.post(Q1_QUERY, { id });
      if (second.headers.age !== undefined) break;
    }
    if (JSON.stringify(second.body?.data) !== JSON.stringify(first.body?.data)) throw new Error('probe: repeated Q1 answered differently');
    const page = await poster.post(Q2_QUERY, { after: null });
    const edges = (page.body?.data?.books?.edges ?? []) as unknown[];
    if (page.status !== 200 || edges.length === 0) throw new Error(`probe: Q2 answered ${page.status} ${page.text.slice(0, 300)}`);
    const age = second.headers.age;
    return { target: target.kind, repeatedQ1Age: typeof age === 'string' ? age : null, q2FirstPageEdges: edges.length };
  } finally {
    poster.close();
  }
}

function find(ms: readonly Measurement[], scenario: Scenario, target: TargetKind): Measurement | undefined {
  return ms.find((m) => m.scenario === scenario && m.target === target);
}

export function ratio(ms: readonly Measurement[], scenario: Scenario, a: TargetKind, b: TargetKind): number | null {
  const x = find(ms, scenario, a);
  const y = find(ms, scenario, b);
  return x && y && y.load.reqPerSec > 0 ? x.load.reqPerSec / y.load.reqPerSec : null;
}

function checksOf(ms: readonly Measurement[], probes: readonly Probe[]): Check[] {
  const checks: Check[] = [];
  const q1 = ratio(ms, 'Q1', 'ours', 'cacheOff');
  if (q1 !== null) checks.push({ name: 'Q1 warm: ours ≥ 5× cache-off (req/s)', value: `${q1.toFixed(2)}×`, met: q1 >= 5 });
  // Q3's throughput ratios are in the table, not here: ten seconds right after each warm-up is a
  // transient in which no answer of Apollo's has reached its maxAge. Whether ours is ahead is
  // measured by Q3 with the targets taking turns (q3-interleaved.ts, run after the suite by run.ts).
  const oursQ3 = find(ms, 'Q3', 'ours')?.mix;
  if (oursQ3) checks.push({ name: 'Q3: 0 stale reads for ours', value: `${oursQ3.staleReads} of ${oursQ3.reads} reads`, met: oursQ3.staleReads === 0 });
  const oursTierQ3 = find(ms, 'Q3', 'oursTier')?.mix;
  if (oursTierQ3) checks.push({ name: 'Q3: 0 stale reads for ours with the in-process tier', value: `${oursTierQ3.staleReads} of ${oursTierQ3.reads} reads`, met: oursTierQ3.staleReads === 0 });
  const loadersQ3 = find(ms, 'Q3', 'loadersOnly')?.mix;
  if (loadersQ3) checks.push({ name: 'Q3: 0 stale reads for ours without the response cache', value: `${loadersQ3.staleReads} of ${loadersQ3.reads} reads`, met: loadersQ3.staleReads === 0 });
  const offQ3 = find(ms, 'Q3', 'cacheOff')?.mix;
  if (offQ3) checks.push({ name: 'Q3: 0 stale reads for cache-off (the check itself is sound)', value: `${offQ3.staleReads} of ${offQ3.reads} reads`, met: offQ3.staleReads === 0 });
  const apolloProbe = probes.find((p) => p.target === 'apollo');
  const apolloQ1 = find(ms, 'Q1', 'apollo');
  if (apolloProbe && apolloQ1) {
    const hits = apolloQ1.responseCacheHitRate ?? 0;
    checks.push({
      name: 'Apollo response cache really caches (age header on a repeated Q1; Q1 hit rate)',
      value: `age: ${apolloProbe.repeatedQ1Age ?? 'none'}; ${(hits * 100).toFixed(1)}% hits`,
      met: apolloProbe.repeatedQ1Age !== null && hits > 0,
    });
  }
  const errors = ms.reduce((s, m) => s + m.load.errors, 0);
  checks.push({ name: 'no errors (transport, non-2xx, GraphQL errors)', value: String(errors), met: errors === 0 });
  return checks;
}

async function describeEnvironment(orm: Awaited<ReturnType<typeof openOrm>>, driver: string, redis: Redis): Promise<Record<string, string>> {
  const connection = orm.em.getConnection();
  const [dbVersion] = driver === 'postgresql'
    ? await connection.execute<{ v: string }[]>('select version() as v')
    : await connection.execute<{ v: string }[]>('select sqlite_version() as v');
  const info = await redis.info('server');
  const cpu = cpus();
  return {
    machine: `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${osType()} ${release()}`,
    node: process.version,
    database: driver === 'postgresql' ? String(dbVersion?.v).split(',')[0]! : `SQLite ${dbVersion?.v}`,
    redis: `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}`,
    'load average (start)': loadavg().map((l) => l.toFixed(2)).join(', '),
  };
}

/** Unlinks every key under `prefix` (the suite's and the anatomy's keys): how many. */
export async function unlinkPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10_000);
    cursor = next;
    if (keys.length > 0) removed += await redis.unlink(...keys);
  } while (cursor !== '0');
  return removed;
}

// --- Report --------------------------------------------------------------------------------------

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const fixed = (n: number | null | undefined, digits = 2) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
const times = (n: number | null) => (n === null ? '–' : `${n.toFixed(2)}×`);

export function formatReport(result: SuiteResult): string {
  const { options: o, measurements: ms } = result;
  const lines: string[] = [];
  lines.push('| scenario | target | req/s | p50 ms | p99 ms | SQL/req | Redis RT/req | server CPU ms/req | response cache hits | stale reads | errors | load avg |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const m of ms) {
    const stale = m.mix ? `${int(m.mix.staleReads)} / ${int(m.mix.reads)}` : '–';
    lines.push(`| ${SCENARIO_LABELS[m.scenario]} | ${TARGET_LABELS[m.target]} | ${int(m.load.reqPerSec)} | ${fixed(m.load.p50Ms)} | ${fixed(m.load.p99Ms)} | ` +
      `${fixed(m.sqlPerRequest)} | ${fixed(m.redisRoundTripsPerRequest)} | ${fixed(m.serverCpuMsPerRequest, 3)} | ${m.responseCacheHitRate === null ? '–' : `${(m.responseCacheHitRate * 100).toFixed(1)}%`} | ${stale} | ${m.load.errors} | ${m.loadAverage.toFixed(1)} |`);
  }
  lines.push('');
  lines.push('| scenario | ours ÷ cache-off | ours ÷ Apollo response cache | ours + tier ÷ Apollo response cache | ours ÷ loaders only (response cache effect) | loaders only ÷ cache-off |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const s of SCENARIOS) {
    lines.push(`| ${SCENARIO_LABELS[s]} | ${times(ratio(ms, s, 'ours', 'cacheOff'))} | ${times(ratio(ms, s, 'ours', 'apollo'))} | ` +
      `${times(ratio(ms, s, 'oursTier', 'apollo'))} | ${times(ratio(ms, s, 'ours', 'loadersOnly'))} | ${times(ratio(ms, s, 'loadersOnly', 'cacheOff'))} |`);
  }
  lines.push('');
  lines.push('(all ratios are of req/s)');

  const q3 = ms.filter((m) => m.mix);
  if (q3.length > 0) {
    lines.push('');
    lines.push('Q3 detail:');
    lines.push('');
    lines.push('| target | reads | writes (price / title / review) | stale reads | stale values (price / title / reviewCount) | max staleness ms | Q1 / Q2 from response cache | Q1 mean / p99 ms | Q2 mean / p99 ms | write mean / p99 ms |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const m of q3) {
      const x = m.mix!;
      lines.push(`| ${TARGET_LABELS[m.target]} | ${int(x.reads)} | ${x.writes.price} / ${x.writes.title} / ${x.writes.review} | ` +
        `${int(x.staleReads)} (${fixed((100 * x.staleReads) / Math.max(1, x.reads), 1)}%) | ${x.staleValues.priceCents} / ${x.staleValues.title} / ${x.staleValues.reviewCount} | ${fixed(x.maxStaleMs, 0)} | ` +
        `${(['Q1', 'Q2'] as const).map((k) => `${fixed((100 * x.cachedByKind[k]) / Math.max(1, x.latencyByKind[k].count), 1)}%`).join(' / ')} | ` +
        OPERATION_KINDS.map((k) => `${fixed(x.latencyByKind[k].meanMs, 1)} / ${fixed(x.latencyByKind[k].p99Ms, 1)}`).join(' | ') + ' |');
    }
  }

  lines.push('');
  lines.push('Checks:');
  lines.push('');
  for (const c of result.checks) lines.push(`- ${c.met ? '✅' : '❌'} ${c.name}: ${c.value}`);
  lines.push('');
  lines.push('Probes (before Q1; a repeated identical Q1 shows whether a response cache answered it) and warm-up sweeps:');
  lines.push('');
  for (const p of result.probes) {
    lines.push(`- ${TARGET_LABELS[p.target]}: started in ${p.startSeconds.toFixed(1)} s; age header on the repeated Q1: ${p.repeatedQ1Age ?? 'none'}; ` +
      `Q2 first page ${p.q2FirstPageEdges} edges; warm-up sweep asked Q1 for ${p.sweptBooks.toLocaleString('en-US')} books`);
  }
  lines.push('');
  lines.push(`Run: ${result.date.slice(0, 16).replace('T', ' ')} UTC, ${o.mode}, ${fixed(result.durationSeconds, 0)} s in all.`);
  for (const [k, v] of Object.entries(result.environment)) lines.push(`- ${k}: ${v}`);
  lines.push(`- data: ${o.counts.authors.toLocaleString('en-US')} authors, ${o.counts.books.toLocaleString('en-US')} books, ` +
    `${o.counts.reviews.toLocaleString('en-US')} reviews (seedCatalog, seed 42; ${result.database.driver}, seeded in ${fixed(result.database.seedSeconds, 1)} s)`);
  lines.push(`- load: ${o.connections} autocannon connections (Q1, Q2) / ${o.connections} concurrent workers (Q3), loopback; ` +
    `Q1 ${o.sweepBooks > 0 ? `sweep (one request for each of the ${o.sweepBooks.toLocaleString('en-US')} hottest books), ` : ''}${o.seconds.q1Warmup} s warm-up + ${o.seconds.q1} s, Q2 ${o.seconds.q2Warmup} s warm-up + ${o.seconds.q2} s, Q3 ${o.seconds.q3} s; Zipf s = ${o.zipf}`);
  lines.push(`- servers: ${o.isolate ? 'each target in its own Node process (the load generator in another)' : 'in the load generator\'s process'}, one at a time, in the order ${(o.targets ?? TARGET_KINDS).map((k) => TARGET_LABELS[k].split(' ')[0]).join(', ')}`);
  return lines.join('\n');
}
