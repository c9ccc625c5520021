/**
 * Q3 (the suite's 95% read / 5% write mix) against several targets taking turns in short slices
 * (`npm run bench:q3`), so that a drifting machine weighs on all of them alike — the full suite
 * measures its targets one after another, and on a shared VM that alone moved Q3 ratios by ±20%.
 *
 *   npm run bench:q3 [-- --targets ours,oursTier,apollo --rounds 6 --slice 3 --workers 24 --database-url postgres://… --redis redis://… --out FILE]
 *
 * Each target gets a database of its own, seeded alike (writes never cross), its own Redis prefix
 * and an empty cache; it is warmed as in the suite (a Q1 sweep, Q1 and Q2 load). Then, round after
 * round, each target runs Q3 for one slice, the order rotating every round; the mix's write history
 * carries over from slice to slice (runMixed's `history`), so every value read is still checked
 * against every write acknowledged before it. Reported per target: requests per second over all its
 * slices, server CPU, SQL and Redis round trips per request, stale reads; and the ratios to the
 * last target, overall and per round (their spread is the noise left).
 * `--smoke`: tiny data on SQLite, ~0.5 s slices (test/bench/q3-interleaved-smoke.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { openOrm } from '../../src/orm/open-orm.ts';
import type { SeedCounts } from '../../src/orm/seed/seed-catalog.ts';
import { parseCommandLine, parseTargets, resultsFile, usageError, writeReport } from './command-line.ts';
import { createBenchDatabase, seedAndLoad, type BenchDatabase } from './database.ts';
import { unlinkPrefix } from './suite.ts';
import { spawnTarget, startTarget, TARGET_LABELS, type Target, type TargetKind } from './targets.ts';
import { createMixHistory, runMixed, runQ1, runQ2, sweepQ1, type Catalog, type MixHistory } from './workload.ts';

export interface InterleavedOptions {
  readonly databaseServerUrl: string | undefined;
  readonly redisUrl: string;
  readonly counts: SeedCounts;
  readonly targets: readonly TargetKind[];
  readonly rounds: number;
  readonly sliceSeconds: number;
  readonly workers: number;
  readonly warm: { readonly sweepSeconds: number; readonly q1Seconds: number; readonly q2Seconds: number };
  readonly isolate: boolean;
  readonly log?: (line: string) => void;
}

export interface TargetTotals {
  readonly target: TargetKind;
  readonly requests: number;
  readonly seconds: number;
  readonly reads: number;
  readonly writes: number;
  readonly staleReads: number;
  readonly errors: number;
  readonly cpuMsPerRequest: number | null;
  readonly sqlPerRequest: number;
  readonly redisRoundTripsPerRequest: number;
  /** req/s of each round's slice. */
  readonly perRound: readonly number[];
}

export interface InterleavedResult {
  readonly options: Omit<InterleavedOptions, 'log'>;
  readonly date: string;
  readonly totals: readonly TargetTotals[];
}

const ZIPF = 1.1;

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
      const { url } = run.target;
      await sweepQ1(url, run.catalog, options.workers, options.warm.sweepSeconds);
      await runQ1({ url, connections: options.workers, seconds: options.warm.q1Seconds, catalog: run.catalog, zipf: ZIPF, seed: 101 });
      await runQ2({ url, connections: options.workers, seconds: options.warm.q2Seconds, seed: 101 });
      log(`${TARGET_LABELS[run.kind]}: warm`);
    }

    const sums = runs.map(() => ({ requests: 0, seconds: 0, reads: 0, writes: 0, stale: 0, errors: 0, cpu: 0, sql: 0, rt: 0, perRound: [] as number[] }));
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < runs.length; i++) {
        const at = (round + i) % runs.length; // the order rotates: no target always follows the same one
        const run = runs[at]!;
        const target = run.target!;
        const before = await target.counters();
        const mix = await runMixed({
          url: target.url, workers: options.workers, seconds: options.sliceSeconds, catalog: run.catalog, zipf: ZIPF,
          seed: 1_000 * round + at, history: run.history,
        });
        const after = await target.counters();
        const sum = sums[at]!;
        sum.requests += mix.requests;
        sum.seconds += mix.seconds;
        sum.reads += mix.reads;
        sum.writes += mix.writes.price + mix.writes.title + mix.writes.review;
        sum.stale += mix.staleReads;
        sum.errors += mix.errors;
        sum.cpu += after.cpuMicros - before.cpuMicros;
        sum.sql += after.statements - before.statements;
        sum.rt += after.redisRoundTrips - before.redisRoundTrips;
        sum.perRound.push(mix.reqPerSec);
        log(`round ${round + 1}/${options.rounds}, ${TARGET_LABELS[run.kind]}: ${mix.reqPerSec.toFixed(0)} req/s, stale ${mix.staleReads}, errors ${mix.errors}`);
      }
    }
    return {
      options: (({ log: _log, ...rest }) => rest)(options),
      date: new Date().toISOString(),
      totals: runs.map((run, i) => {
        const s = sums[i]!;
        return {
          target: run.kind, requests: s.requests, seconds: s.seconds, reads: s.reads, writes: s.writes, staleReads: s.stale, errors: s.errors,
          cpuMsPerRequest: options.isolate ? s.cpu / 1000 / s.requests : null,
          sqlPerRequest: s.sql / s.requests, redisRoundTripsPerRequest: s.rt / s.requests, perRound: s.perRound,
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

export function formatInterleaved(result: InterleavedResult): string {
  const { totals, options: o } = result;
  const reference = totals.at(-1)!;
  const rate = (t: TargetTotals) => t.requests / t.seconds;
  const fixed = (n: number | null, digits = 2) => (n === null || !Number.isFinite(n) ? '–' : n.toFixed(digits));
  const lines = [
    '# Q3 with the targets taking turns',
    '',
    `\`npm run bench:q3\` (bench/suite/q3-interleaved.ts): ${o.rounds} rounds × ${o.sliceSeconds} s slices per target, the order rotating, ` +
      `${o.workers} workers, ${o.counts.books} books per target's own database; ratios are to ${TARGET_LABELS[reference.target]}.`,
    '',
    `| target | req/s | ÷ ${reference.target} | per-round ratios (min – median – max) | server CPU ms/req | SQL/req | Redis RT/req | reads | writes | stale reads | errors |`,
    '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const t of totals) {
    const ratios = t.perRound.map((r, i) => r / reference.perRound[i]!).sort((a, b) => a - b);
    const spread = `${fixed(ratios[0]!)} – ${fixed(ratios[Math.floor(ratios.length / 2)]!)} – ${fixed(ratios.at(-1)!)}`;
    lines.push(`| ${TARGET_LABELS[t.target]} | ${rate(t).toFixed(0)} | ${fixed(rate(t) / rate(reference))}× | ${spread} | ${fixed(t.cpuMsPerRequest, 3)} | ` +
      `${fixed(t.sqlPerRequest)} | ${fixed(t.redisRoundTripsPerRequest)} | ${t.reads} | ${t.writes} | ${t.staleReads} | ${t.errors} |`);
  }
  lines.push('', `Run: ${result.date}.`, '');
  return lines.join('\n');
}

const USAGE = 'usage: node bench/suite/q3-interleaved.ts [--smoke] [--targets ours,oursTier,apollo] [--rounds N] [--slice S] [--workers N] [--database-url postgres://…] [--redis redis://…] [--out FILE]';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const values = parseCommandLine({
    smoke: { type: 'boolean', default: false },
    targets: { type: 'string' },
    rounds: { type: 'string' },
    slice: { type: 'string' },
    workers: { type: 'string' },
    'database-url': { type: 'string' },
    redis: { type: 'string' },
    out: { type: 'string' },
  }, USAGE);
  const smoke = values.smoke!;
  const rounds = Number(values.rounds ?? (smoke ? 2 : 6));
  const slice = Number(values.slice ?? (smoke ? 0.5 : 3));
  const workers = Number(values.workers ?? (smoke ? 4 : 24));
  if (!Number.isInteger(rounds) || rounds < 1) usageError('--rounds must be a positive integer', USAGE);
  if (!(slice > 0)) usageError('--slice must be a positive number of seconds', USAGE);
  if (!Number.isInteger(workers) || workers < 1) usageError('--workers must be a positive integer', USAGE);
  const result = await runInterleaved({
    databaseServerUrl: values['database-url'] ?? (smoke ? undefined : 'postgres://postgres@127.0.0.1:5432/postgres'),
    redisUrl: values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    counts: smoke ? { authors: 50, books: 500, reviews: 2_000 } : { authors: 1_000, books: 20_000, reviews: 100_000 },
    targets: parseTargets(values.targets, USAGE) ?? ['ours', 'oursTier', 'apollo'],
    rounds, sliceSeconds: slice, workers,
    warm: smoke ? { sweepSeconds: 1, q1Seconds: 0.5, q2Seconds: 0.5 } : { sweepSeconds: 20, q1Seconds: 5, q2Seconds: 3 },
    isolate: true,
  });
  const report = formatInterleaved(result);
  console.log(`\n${report}`);
  const out = values.out ?? (smoke ? undefined : resultsFile('q3-interleaved.md'));
  if (out) writeReport(out, report);
}
