/**
 * Q3 (the suite's 95% read / 5% write mix) against several targets taking turns in short slices
 * (`npm run bench:q3`), so that a drifting machine weighs on all of them alike — the full suite
 * measures its targets one after another, and on a shared VM that alone moved Q3 ratios by ±20%.
 *
 *   npm run bench:q3 [-- --targets ours,oursTier,apollo --rounds 6 --slice 3 --workers 24 --writes 0.05 | --mix price=0.02,title=0.01,review=0.02,q2=0.3] [--database-url postgres://… --redis redis://… --out FILE]
 *
 * Each target gets a database of its own, seeded alike (writes never cross), its own Redis prefix
 * and an empty cache; it is warmed as in the suite (a Q1 sweep, Q1 and Q2 load), the targets taking
 * turns in the sweep so that their caches age alike, then by one slice of the mix that is not
 * measured (see InterleavedOptions.warm). Then, round after
 * round, each target runs Q3 for one slice, the order rotating every round; the mix's write history
 * carries over from slice to slice (runMixed's `history`), so every value read is still checked
 * against every write acknowledged before it. Reported per target: requests per second over all its
 * slices, server CPU, SQL and Redis round trips per request, stale reads; and the ratios to the
 * last target, overall and per round (their spread is the noise left).
 * `--smoke`: tiny data on SQLite, ~0.5 s slices (test/bench/q3-interleaved-smoke.test.ts).
 */
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { openOrm } from '../../src/orm/open-orm.ts';
import type { SeedCounts } from '../../src/orm/seed/seed-catalog.ts';
import { parseCommandLine, parseTargets, resultsFile, usageError, writeReport } from './command-line.ts';
import { createBenchDatabase, seedAndLoad, type BenchDatabase } from './database.ts';
import { addSelfTime, BY_FUNCTION, type SelfTime } from './cpu-profile.ts';
import { postgresSecondsBetween, readCpu } from './machine-cpu.ts';
import { unlinkPrefix, type Check } from './suite.ts';
import { spawnTarget, startTarget, TARGET_LABELS, type Target, type TargetKind } from './targets.ts';
import { createMixHistory, OPERATION_KINDS, runMixed, runQ1, runQ2, sweepQ1, type Catalog, type MixHistory, type OperationKind } from './workload.ts';

export interface InterleavedOptions {
  readonly databaseServerUrl: string | undefined;
  readonly redisUrl: string;
  readonly counts: SeedCounts;
  readonly targets: readonly TargetKind[];
  readonly rounds: number;
  readonly sliceSeconds: number;
  readonly workers: number;
  /**
   * Warm-up: Q1 once for each of the `sweepBooks` hottest books, then a Zipf Q1 run and a Q2 walk.
   * Every target asks for the same books (not as many as its speed allows in a fixed time), and
   * the targets take turns chunk by chunk, so that their answers — which expire with their maxAge
   * (60 s) — are of the same age in every round: warmed one after the other, the first target's
   * cache would expire during the rounds while the last one's would not.
   * Then `mixSeconds` of the mix itself per target, the targets taking turns, not measured: the
   * first slice after the warm-up ran slow for whichever target had it (the load generator's mix
   * loop and the targets' write paths ran for the first time; ours, first in round 1, read 0.62–0.66×
   * Apollo there and ≈1.0× in the later rounds of the same runs). Its stale reads and errors are
   * reported apart (TargetTotals.warmUp).
   */
  readonly warm: { readonly sweepBooks: number; readonly q1Seconds: number; readonly q2Seconds: number; readonly mixSeconds?: number };
  readonly isolate: boolean;
  /** Share of operations that are writes (default 0.05, split like runMixed's default mix); 0: reads only. */
  readonly writeShare?: number;
  /**
   * The mix itself (overrides writeShare): each operation's share, the rest Q1 — to price one kind
   * of write at a time (`--mix price=0.05,title=0,review=0,q2=0.3`).
   */
  readonly mix?: Mix;
  /**
   * V8's sampling profiler in each target's process during its slices (cpu-profile.ts): where its
   * CPU goes in the mix, per request. The profiler's own cost is in every column then.
   */
  readonly profile?: boolean;
  readonly log?: (line: string) => void;
}

export interface TargetTotals {
  readonly target: TargetKind;
  readonly requests: number;
  readonly seconds: number;
  readonly reads: number;
  /** Reads a response cache answered. */
  readonly cachedReads: number;
  readonly writes: number;
  readonly staleReads: number;
  readonly errors: number;
  /** The same, in the unmeasured warm-up slice of the mix (InterleavedOptions.warm.mixSeconds). */
  readonly warmUp: { readonly reads: number; readonly staleReads: number; readonly errors: number };
  readonly cpuMsPerRequest: number | null;
  readonly sqlPerRequest: number;
  readonly redisRoundTripsPerRequest: number;
  /**
   * The Redis server's CPU (INFO cpu, user + sys) during the target's slices, per request: the
   * whole server's, so it holds only while nothing else uses that Redis (null: not reported).
   */
  readonly redisCpuMsPerRequest: number | null;
  /**
   * During the target's slices, per request (machine-cpu.ts; null where /proc does not say): the
   * whole machine's busy CPU, PostgreSQL's processes' (every database's: only the slice's target
   * runs), and the load generator's (this process: the mix's clients and its stale-read checks).
   */
  readonly machineCpuMsPerRequest: number | null;
  readonly postgresCpuMsPerRequest: number | null;
  readonly loadCpuMsPerRequest: number;
  /** req/s of each round's slice. */
  readonly perRound: readonly number[];
  /** Response-cache lookups by query and result (TargetCounters.lookups), over all slices. */
  readonly lookups: Readonly<Record<string, number>>;
  /** Mean latency of each kind of operation (ms), over all slices. */
  readonly meanLatencyMs: Readonly<Record<OperationKind, number>>;
  /** With `profile`: the target's self time per part over its slices, in µs (cpu-profile.ts). */
  readonly selfTime?: SelfTime;
}

export interface InterleavedResult {
  readonly options: Omit<InterleavedOptions, 'log'>;
  readonly date: string;
  readonly totals: readonly TargetTotals[];
}

const ZIPF = 1.1;
/** The warm-up sweep's turns (see InterleavedOptions.warm). */
const WARM_CHUNKS = 10;

/** The Redis server's CPU seconds so far (user + sys); NaN when INFO does not say. */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (field: string) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return seconds('used_cpu_user') + seconds('used_cpu_sys');
}

const percent = (part: number, whole: number) => `${(100 * part / Math.max(1, whole)).toFixed(1)}%`;

type Mix = { readonly price: number; readonly title: number; readonly review: number; readonly q2: number };

/** runMixed's default mix (5% writes: 2% price, 1% title, 2% review; 30% Q2), its writes scaled to `share`. */
function mixWithWrites(share: number): Mix {
  const scale = share / 0.05;
  return { price: 0.02 * scale, title: 0.01 * scale, review: 0.02 * scale, q2: 0.30 };
}

const mixOf = (o: Pick<InterleavedOptions, 'mix' | 'writeShare'>): Mix => o.mix ?? mixWithWrites(o.writeShare ?? 0.05);

function describeMix(mix: Mix): string {
  const writes = mix.price + mix.title + mix.review;
  const fixed = (share: number) => share.toFixed(1);
  return `${fixed(100 * writes)}% writes (price ${fixed(100 * mix.price)}%, title ${fixed(100 * mix.title)}%, review ${fixed(100 * mix.review)}%), ${fixed(100 * mix.q2)}% Q2`;
}

/** `--mix price=…,title=…,review=…,q2=…` (each named once, shares in 0..1, summing to at most 1), or exit 2. */
function parseMix(value: string): Mix {
  const shares: Record<string, number> = {};
  for (const part of value.split(',')) {
    const [name, share] = part.split('=');
    shares[name!.trim()] = Number(share);
  }
  const names = ['price', 'title', 'review', 'q2'];
  const bad = Object.keys(shares).length !== names.length || names.some((n) => !(shares[n]! >= 0 && shares[n]! <= 1));
  if (bad || names.reduce((sum, n) => sum + shares[n]!, 0) > 1) usageError('--mix takes price=…,title=…,review=…,q2=… (shares in 0..1 summing to at most 1)', USAGE);
  return shares as unknown as Mix;
}

export async function runInterleaved(options: InterleavedOptions): Promise<InterleavedResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  const base = `bench.q3.${randomBytes(4).toString('hex')}`;
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const runs: { kind: TargetKind; db: BenchDatabase; catalog: Catalog; target?: Target; history: MixHistory }[] = [];
  try {
    for (const kind of options.targets) {
      const db = await createBenchDatabase(options.databaseServerUrl);
      const orm = await openOrm({ databaseUrl: db.url });
      try {
        const { catalog } = await seedAndLoad(orm, options.counts);
        runs.push({ kind, db, catalog, history: createMixHistory() });
      } finally {
        await orm.close(true);
      }
      log(`${TARGET_LABELS[kind]}: ${db.driver} ${db.name} seeded`);
    }
    for (const run of runs) {
      run.target = await (options.isolate ? spawnTarget : startTarget)({
        kind: run.kind, databaseUrl: run.db.url, redisUrl: options.redisUrl, prefix: `${base}.${run.kind}`,
      });
    }
    const { sweepBooks, q1Seconds, q2Seconds } = options.warm;
    const chunk = Math.max(1, Math.ceil(sweepBooks / WARM_CHUNKS));
    for (let from = 0, turn = 0; from < sweepBooks; from += chunk, turn++) {
      for (let i = 0; i < runs.length; i++) {
        const run = runs[(turn + i) % runs.length]!; // the order rotates, as in the rounds
        await sweepQ1(run.target!.url, run.catalog, options.workers, 600, { from, to: Math.min(sweepBooks, from + chunk) });
      }
    }
    for (const run of runs) {
      const { url } = run.target!;
      await runQ1({ url, connections: options.workers, seconds: q1Seconds, catalog: run.catalog, zipf: ZIPF, seed: 101 });
      await runQ2({ url, connections: options.workers, seconds: q2Seconds, seed: 101 });
      log(`${TARGET_LABELS[run.kind]}: warm (${sweepBooks} books swept)`);
    }

    const warmUps = runs.map(() => ({ reads: 0, staleReads: 0, errors: 0 }));
    for (const [at, run] of runs.entries()) {
      if (!options.warm.mixSeconds) break;
      const mix = await runMixed({
        url: run.target!.url, workers: options.workers, seconds: options.warm.mixSeconds, catalog: run.catalog, zipf: ZIPF,
        seed: 999_000 + at, history: run.history, mix: mixOf(options),
      });
      warmUps[at] = { reads: mix.reads, staleReads: mix.staleReads, errors: mix.errors };
      log(`${TARGET_LABELS[run.kind]}: mix warm-up ${mix.reqPerSec.toFixed(0)} req/s (not measured), stale ${mix.staleReads}, errors ${mix.errors}`);
    }

    const sums = runs.map(() => ({
      requests: 0, seconds: 0, reads: 0, cached: 0, writes: 0, stale: 0, errors: 0, cpu: 0, sql: 0, rt: 0, redisCpu: 0, machineCpu: 0, postgresCpu: 0, loadCpu: 0, perRound: [] as number[],
      lookups: {} as Record<string, number>, selfTime: {} as SelfTime,
      latency: Object.fromEntries(OPERATION_KINDS.map((kind) => [kind, { count: 0, totalMs: 0 }])) as Record<OperationKind, { count: number; totalMs: number }>,
    }));
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < runs.length; i++) {
        const at = (round + i) % runs.length; // the order rotates: no target always follows the same one
        const run = runs[at]!;
        const target = run.target!;
        if (options.profile) await target.profile('start');
        const before = await target.counters();
        const redisBefore = await redisCpuSeconds(redis);
        const cpuBefore = readCpu();
        const mix = await runMixed({
          url: target.url, workers: options.workers, seconds: options.sliceSeconds, catalog: run.catalog, zipf: ZIPF,
          seed: 1_000 * round + at, history: run.history, mix: mixOf(options),
        });
        const cpuAfter = readCpu();
        const after = await target.counters();
        const redisAfter = await redisCpuSeconds(redis);
        const sum = sums[at]!;
        if (options.profile) addSelfTime(sum.selfTime, await target.profile('stop'));
        sum.requests += mix.requests;
        sum.seconds += mix.seconds;
        sum.reads += mix.reads;
        sum.cached += mix.cachedByKind.Q1 + mix.cachedByKind.Q2;
        sum.writes += mix.writes.price + mix.writes.title + mix.writes.review;
        sum.stale += mix.staleReads;
        sum.errors += mix.errors;
        sum.cpu += after.cpuMicros - before.cpuMicros;
        sum.sql += after.statements - before.statements;
        sum.rt += after.redisRoundTrips - before.redisRoundTrips;
        sum.redisCpu += redisAfter - redisBefore;
        sum.machineCpu += cpuAfter.machine - cpuBefore.machine;
        sum.postgresCpu += postgresSecondsBetween(cpuBefore, cpuAfter);
        sum.loadCpu += cpuAfter.self - cpuBefore.self;
        sum.perRound.push(mix.reqPerSec);
        for (const [key, n] of Object.entries(after.lookups)) sum.lookups[key] = (sum.lookups[key] ?? 0) + n - (before.lookups[key] ?? 0);
        for (const kind of OPERATION_KINDS) {
          const { count, meanMs } = mix.latencyByKind[kind];
          sum.latency[kind].count += count;
          sum.latency[kind].totalMs += count * meanMs;
        }
        log(`round ${round + 1}/${options.rounds}, ${TARGET_LABELS[run.kind]}: ${mix.reqPerSec.toFixed(0)} req/s, stale ${mix.staleReads}, errors ${mix.errors}, ` +
          `from cache: Q1 ${percent(mix.cachedByKind.Q1, mix.latencyByKind.Q1.count)}, Q2 ${percent(mix.cachedByKind.Q2, mix.latencyByKind.Q2.count)}`);
      }
    }
    return {
      options: (({ log: _log, ...rest }) => rest)(options),
      date: new Date().toISOString(),
      totals: runs.map((run, i) => {
        const s = sums[i]!;
        return {
          target: run.kind, requests: s.requests, seconds: s.seconds, reads: s.reads, cachedReads: s.cached, writes: s.writes, staleReads: s.stale, errors: s.errors, warmUp: warmUps[i]!,
          cpuMsPerRequest: options.isolate ? s.cpu / 1000 / s.requests : null,
          sqlPerRequest: s.sql / s.requests, redisRoundTripsPerRequest: s.rt / s.requests,
          redisCpuMsPerRequest: Number.isFinite(s.redisCpu) ? s.redisCpu * 1000 / s.requests : null, perRound: s.perRound,
          machineCpuMsPerRequest: Number.isFinite(s.machineCpu) ? s.machineCpu * 1000 / s.requests : null,
          postgresCpuMsPerRequest: Number.isFinite(s.postgresCpu) ? s.postgresCpu * 1000 / s.requests : null,
          loadCpuMsPerRequest: s.loadCpu * 1000 / s.requests,
          lookups: s.lookups,
          meanLatencyMs: Object.fromEntries(OPERATION_KINDS.map((kind) => [kind, s.latency[kind].totalMs / s.latency[kind].count])) as Record<OperationKind, number>,
          ...(options.profile ? { selfTime: s.selfTime } : {}),
        };
      }),
    };
  } finally {
    for (const run of runs) await run.target?.close();
    await unlinkPrefix(redis, base).catch(() => {});
    redis.disconnect();
    for (const run of runs) await run.db.drop();
  }
}

/** Student's t quantile 0.975 for 1..30 degrees of freedom (beyond: the normal's 1.96). */
const T_975 = [12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04];

/** Mean of `values` and the half-width of its 95% confidence interval (NaN with fewer than two values). */
export function meanInterval(values: readonly number[]): { mean: number; halfWidth: number } {
  const n = values.length;
  const mean = values.reduce((sum, v) => sum + v, 0) / n;
  if (n < 2) return { mean, halfWidth: Number.NaN };
  const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1);
  return { mean, halfWidth: (T_975[n - 2] ?? 1.96) * Math.sqrt(variance / n) };
}

export function formatInterleaved(result: InterleavedResult): string {
  const { totals, options: o } = result;
  const reference = totals.at(-1)!;
  const rate = (t: TargetTotals) => t.requests / t.seconds;
  const fixed = (n: number | null, digits = 2) => (n === null || !Number.isFinite(n) ? '–' : n.toFixed(digits));
  const lines = [
    '# Q3 with the targets taking turns',
    '',
    `\`npm run bench:q3\` (bench/suite/q3-interleaved.ts): ${o.rounds} rounds × ${o.sliceSeconds} s slices per target, the order rotating, ` +
      `${o.workers} workers, ${o.counts.books} books per target's own database, ${describeMix(mixOf(o))}; ` +
      `ratios are to ${TARGET_LABELS[reference.target]}.`,
    '',
    `| target | req/s | ÷ ${reference.target} | per-round ratios (min – median – max) | per-round mean ± 95% | server CPU ms/req | SQL/req | Redis RT/req | Redis CPU ms/req | PostgreSQL CPU ms/req | load generator CPU ms/req | machine CPU ms/req | reads | reads from cache | writes | stale reads | errors |`,
    '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const t of totals) {
    const ratios = t.perRound.map((r, i) => r / reference.perRound[i]!).sort((a, b) => a - b);
    const spread = `${fixed(ratios[0]!)} – ${fixed(ratios[Math.floor(ratios.length / 2)]!)} – ${fixed(ratios.at(-1)!)}`;
    const { mean, halfWidth } = meanInterval(ratios);
    const interval = t === reference ? '–' : `${fixed(mean)} ± ${fixed(halfWidth)}`;
    lines.push(`| ${TARGET_LABELS[t.target]} | ${rate(t).toFixed(0)} | ${fixed(rate(t) / rate(reference))}× | ${spread} | ${interval} | ${fixed(t.cpuMsPerRequest, 3)} | ` +
      `${fixed(t.sqlPerRequest)} | ${fixed(t.redisRoundTripsPerRequest)} | ${fixed(t.redisCpuMsPerRequest, 3)} | ${fixed(t.postgresCpuMsPerRequest, 3)} | ${fixed(t.loadCpuMsPerRequest, 3)} | ${fixed(t.machineCpuMsPerRequest, 3)} | ${t.reads} | ${fixed(100 * t.cachedReads / t.reads, 1)}% | ${t.writes} | ${t.staleReads} | ${t.errors} |`);
  }
  lines.push(
    '',
    'Per-round mean ± 95%: the mean of the rounds\' ratios and the half-width of its 95% confidence interval (Student\'s t): ' +
      'a difference inside it is noise. (Two identical targets once read 0.88× in 8 rounds: slots differ by more than chance alone on a shared machine.)',
    '',
    ...(result.totals.some((t) => t.warmUp.reads > 0)
      ? [`Before the rounds, one slice of the mix per target, not measured (its first run is slow): stale reads ${
        result.totals.map((t) => `${TARGET_LABELS[t.target]} ${t.warmUp.staleReads} of ${t.warmUp.reads}`).join(', ')}; errors ${
        result.totals.map((t) => t.warmUp.errors).reduce((a, b) => a + b, 0)}.`, '']
      : []),
    'Where reads went past the response cache, as a share of each query\'s lookups: answers built new (never built, or ' +
      'past their time to live — for Q2 mostly pages after a cursor that a write moved: a page that gains or loses a row ' +
      'ends at another row, so the walk goes on under cursors never asked for), and answers rebuilt because a write ' +
      'changed what they were built from (ours only: Apollo\'s response cache serves those stale). Latency: mean per ' +
      'operation, in the closed loop of all workers.',
    '',
    '| target | Q1 built new | Q1 rebuilt | Q2 built new | Q2 rebuilt | latency Q1 / Q2 / write (ms) |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const t of totals) {
    const share = (query: string, results: readonly string[]) => {
      const all = Object.entries(t.lookups).filter(([key]) => key.startsWith(`${query}:`)).reduce((n, [, v]) => n + v, 0);
      const some = results.reduce((n, result) => n + (t.lookups[`${query}:${result}`] ?? 0), 0);
      return all > 0 ? `${fixed(100 * some / all, 1)}%` : '–';
    };
    const apollo = t.target === 'apollo';
    const latency = OPERATION_KINDS.map((kind) => fixed(t.meanLatencyMs[kind], 1)).join(' / ');
    lines.push(`| ${TARGET_LABELS[t.target]} | ${share('Q1', apollo ? ['miss'] : ['absent'])} | ${apollo ? '–' : share('Q1', ['invalidated'])} | ` +
      `${share('Q2', apollo ? ['miss'] : ['absent'])} | ${apollo ? '–' : share('Q2', ['invalidated'])} | ${latency} |`);
  }
  if (totals.some((t) => t.selfTime)) lines.push(...formatProfiles(totals));
  lines.push('', 'Checks:', '', ...interleavedChecks(result).map((c) => `- ${c.met ? '✅' : '❌'} ${c.name}: ${c.value}`));
  lines.push('', `Run: ${result.date}.`, '');
  return lines.join('\n');
}

/** Parts listed per target by `--profile` (the largest by self time; the rest summed). */
const PROFILE_PARTS = BY_FUNCTION ? 40 : 14;

/** `--profile`: where each target's server CPU went in the mix, in µs of self time per request. */
function formatProfiles(totals: readonly TargetTotals[]): string[] {
  const lines = ['', "## Where each target's CPU goes in the mix (`--profile`)", '',
    'Self time per part (a package, a file of ours, a part of Node, or V8\'s own: GC, system calls such as `writev`) in µs per request, ' +
    `from V8's sampling profiler in the target's process during its slices (its own cost included); the ${PROFILE_PARTS} largest, then the rest.`,
    '', '| target | profiled µs/req | largest parts (µs/req) |', '|---|---:|---|'];
  for (const t of totals) {
    if (!t.selfTime) continue;
    const parts = Object.entries(t.selfTime).map(([part, micros]) => [part, micros / t.requests] as const).sort((a, b) => b[1] - a[1]);
    const total = parts.reduce((sum, [, us]) => sum + us, 0);
    const rest = parts.slice(PROFILE_PARTS).reduce((sum, [, us]) => sum + us, 0);
    const shown = parts.slice(0, PROFILE_PARTS).map(([part, us]) => `${part} ${us.toFixed(1)}`);
    lines.push(`| ${TARGET_LABELS[t.target]} | ${total.toFixed(1)} | ${[...shown, `rest ${rest.toFixed(1)}`].join(', ')} |`);
  }
  return lines;
}

/**
 * The default run (`npm run bench:q3`, and the Q3 of `npm run bench`, run.ts), or its smoke form
 * (tiny data on SQLite, short slices), with the caller's overrides.
 */
export function interleavedOptions(
  overrides: Partial<Omit<InterleavedOptions, 'counts' | 'warm'>> & { readonly smoke?: boolean } = {},
): InterleavedOptions {
  const { smoke = false, ...rest } = overrides;
  const sliceSeconds = rest.sliceSeconds ?? (smoke ? 0.5 : 3);
  return {
    databaseServerUrl: smoke ? undefined : 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    counts: smoke ? { authors: 50, books: 500, reviews: 2_000 } : { authors: 1_000, books: 20_000, reviews: 100_000 },
    targets: ['ours', 'oursTier', 'apollo'],
    rounds: smoke ? 2 : 6,
    workers: smoke ? 4 : 24,
    writeShare: 0.05,
    warm: smoke ? { sweepBooks: 200, q1Seconds: 0.5, q2Seconds: 0.5, mixSeconds: 0.5 } : { sweepBooks: 10_000, q1Seconds: 5, q2Seconds: 3, mixSeconds: sliceSeconds },
    isolate: true,
    ...rest,
    sliceSeconds,
  };
}

/**
 * Issue 6's Q3 targets, as this run measured them: each of ours ahead of Apollo's response cache in
 * throughput (with the rounds' mean and its 95% interval, to tell a lead from noise), and 0 stale
 * reads for ours (Apollo's stale reads are reported beside, as the issue asks).
 */
export function interleavedChecks(result: InterleavedResult): Check[] {
  const apollo = result.totals.find((t) => t.target === 'apollo');
  const checks: Check[] = [];
  for (const t of result.totals) {
    if (t.target === 'apollo' || t.target === 'cacheOff') continue;
    const label = TARGET_LABELS[t.target];
    if (apollo) {
      const ratio = (t.requests / t.seconds) / (apollo.requests / apollo.seconds);
      const { mean, halfWidth } = meanInterval(t.perRound.map((r, i) => r / apollo.perRound[i]!));
      checks.push({
        name: `Q3, targets taking turns: ${label} ahead of Apollo response cache (req/s; per-round mean ± 95%)`,
        value: `${ratio.toFixed(2)}× (${mean.toFixed(2)} ± ${Number.isFinite(halfWidth) ? halfWidth.toFixed(2) : '–'})`, // one round: no interval
        met: ratio > 1,
      });
    }
    checks.push({
      name: `Q3, targets taking turns: 0 stale reads for ${label}`,
      value: `${t.staleReads} of ${t.reads} reads${apollo ? ` (Apollo response cache: ${apollo.staleReads} of ${apollo.reads}, ${(100 * apollo.staleReads / Math.max(1, apollo.reads)).toFixed(1)}%)` : ''}`,
      met: t.staleReads === 0 && t.warmUp.staleReads === 0,
    });
  }
  return checks;
}

const USAGE = 'usage: node bench/suite/q3-interleaved.ts [--smoke] [--targets ours,oursTier,apollo] [--rounds N] [--slice S] [--workers N] [--writes 0.05 | --mix price=0.02,title=0.01,review=0.02,q2=0.3] [--profile] [--database-url postgres://…] [--redis redis://…] [--out FILE]';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const values = parseCommandLine({
    smoke: { type: 'boolean', default: false },
    targets: { type: 'string' },
    rounds: { type: 'string' },
    slice: { type: 'string' },
    workers: { type: 'string' },
    'database-url': { type: 'string' },
    redis: { type: 'string' },
    writes: { type: 'string' },
    mix: { type: 'string' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
  }, USAGE);
  // The defaults are interleavedOptions' (the full run's or the smoke run's); only what is given overrides them.
  const given = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  const options = interleavedOptions({
    smoke: values.smoke!, profile: values.profile,
    ...(given(values.rounds) === undefined ? {} : { rounds: given(values.rounds)! }),
    ...(given(values.slice) === undefined ? {} : { sliceSeconds: given(values.slice)! }),
    ...(given(values.workers) === undefined ? {} : { workers: given(values.workers)! }),
    ...(given(values.writes) === undefined ? {} : { writeShare: given(values.writes)! }),
    ...(values['database-url'] === undefined ? {} : { databaseServerUrl: values['database-url'] }),
    ...(values.redis === undefined ? {} : { redisUrl: values.redis }),
    ...(values.targets === undefined ? {} : { targets: parseTargets(values.targets, USAGE)! }),
    ...(values.mix === undefined ? {} : { mix: parseMix(values.mix) }),
  });
  const { rounds, sliceSeconds, workers, writeShare = 0.05 } = options;
  if (!Number.isInteger(rounds) || rounds < 1) usageError('--rounds must be a positive integer', USAGE);
  if (!(sliceSeconds > 0)) usageError('--slice must be a positive number of seconds', USAGE);
  if (!Number.isInteger(workers) || workers < 1) usageError('--workers must be a positive integer', USAGE);
  if (!(writeShare >= 0 && writeShare <= 0.5)) usageError('--writes must be a share of operations in 0..0.5', USAGE);
  const result = await runInterleaved(options);
  // BENCH_PROFILE_DUMP=FILE (with --profile): every part's self time, not only the largest, as JSON,
  // to compare two runs (e.g. a mix with writes and one without: what a write costs, by function).
  const dump = process.env.BENCH_PROFILE_DUMP;
  if (dump) writeFileSync(dump, JSON.stringify(result.totals.map(({ target, requests, writes, selfTime }) => ({ target, requests, writes, selfTime }))));
  const report = formatInterleaved(result);
  console.log(`\n${report}`);
  const out = values.out ?? (values.smoke ? undefined : resultsFile('q3-interleaved.md'));
  if (out) writeReport(out, report);
}
