/**
 * The benchmark suite: ours (cache on) vs ours (cache off) vs Apollo Server's response cache, on Q1
 * (Zipf book reads), Q2 (cursor walks by price) and Q3 (95/5 read/write mix with a stale-read check).
 *
 *   npm run bench        [-- --database-url postgres://… --redis redis://… --connections 24 --in-process]
 *   npm run bench:smoke  [-- --database-url postgres://…]     (tiny data, ~1.5 s phases, SQLite by default)
 *
 * Full run: PostgreSQL (a fresh database `bench_suite_<random>` on --database-url's server, default
 * postgres://postgres@127.0.0.1:5432/postgres, dropped at the end), 1k authors / 20k books / 100k
 * reviews, each target in its own process; then Q3 once more with ours, ours + tier and Apollo's
 * taking turns into the steady state (`npm run bench:q3`'s run, on databases of their own; skipped
 * with --skip-turns); prints the tables and writes them to bench/results/suite.md.
 * Smoke: 50 / 500 / 2k on a temporary SQLite file; prints only (--out FILE to write).
 * Redis keys live under `bench.suite.<random>` and are unlinked at the end.
 * Exit status: 0 when every target answered without errors and ours served no stale read, in the
 * suite and in the turns (the performance targets are reported, not enforced); 1 otherwise; 2 bad usage.
 */
import { fileURLToPath } from 'node:url';
import { parseCommandLine, parseTargets, resultsFile, usageError, writeReport } from './command-line.ts';
import { formatInterleaved, interleavedOptions, runInterleaved, type InterleavedResult } from './q3-interleaved.ts';
import { formatReport, fullOptions, runSuite, smokeOptions, type SuiteResult } from './suite.ts';
import type { TargetKind } from './targets.ts';

const usage = 'usage: node bench/suite/run.ts [--smoke] [--database-url postgres://…] [--redis redis://…] [--connections N] [--targets ours,oursTier,loadersOnly,cacheOff,apollo] [--in-process] [--skip-turns] [--out FILE] [--json]';

const parse = () => parseCommandLine({
  smoke: { type: 'boolean', default: false },
  'database-url': { type: 'string' },
  redis: { type: 'string' },
  connections: { type: 'string' },
  targets: { type: 'string' },
  'in-process': { type: 'boolean', default: false },
  'skip-turns': { type: 'boolean', default: false },
  out: { type: 'string' },
  json: { type: 'boolean', default: false },
}, usage);

/** What the smoke run (and its test) requires: every target answered every scenario, ours never stale. */
export function sound(result: SuiteResult): boolean {
  return result.measurements.every((m) => m.load.reqPerSec > 0 && m.load.errors === 0) &&
    result.measurements.filter((m) => m.target !== 'cacheOff' && m.target !== 'apollo' && m.mix).every((m) => m.mix!.staleReads === 0);
}

async function main(): Promise<number> {
  const args = parse();
  const connections = args.connections === undefined ? undefined : Number(args.connections);
  if (connections !== undefined && (!Number.isInteger(connections) || connections < 1)) {
    usageError('--connections must be a positive integer', usage);
  }
  const targets = parseTargets(args.targets, usage);
  const overrides = {
    ...(targets ? { targets } : {}),
    ...(args['database-url'] !== undefined ? { databaseServerUrl: args['database-url'] } : {}),
    ...(args.redis !== undefined ? { redisUrl: args.redis } : {}),
    ...(connections !== undefined ? { connections } : {}),
    ...(args['in-process'] ? { isolate: false } : {}),
  };
  const options = args.smoke ? smokeOptions(overrides) : fullOptions(overrides);
  const result = await runSuite(options);
  const report = formatReport(result);
  console.log(`\n${report}`);
  if (args.json) console.log(JSON.stringify(result, null, 2));

  // Q3 once more, the targets taking turns (q3-interleaved.ts): the suite's own Q3 is ten seconds
  // right after each target's warm-up, when no answer of Apollo's has reached its maxAge yet; this
  // one runs each target's Q3 into the steady state, where Apollo's answers expire, and it is the
  // measure of issue 6's Q3 target. Not in the smoke run (the smoke test of bench:q3 covers it).
  const turnTargets = TURN_TARGETS.filter((t) => (targets ?? TURN_TARGETS).includes(t));
  let turns: InterleavedResult | null = null;
  let turnsReport = '';
  if (!args.smoke && !args['skip-turns'] && turnTargets.includes('apollo') && turnTargets.length > 1) {
    console.log('\nQ3 with the targets taking turns…');
    turns = await runInterleaved(interleavedOptions({
      targets: turnTargets,
      redisUrl: options.redisUrl,
      isolate: options.isolate,
      ...(options.databaseServerUrl === undefined ? {} : { databaseServerUrl: options.databaseServerUrl }),
      ...(connections === undefined ? {} : { workers: connections }),
    }));
    turnsReport = formatInterleaved(turns);
    console.log(`\n${turnsReport}`);
  }

  const out = args.out ?? (args.smoke ? undefined : resultsFile('suite.md'));
  if (out) {
    writeReport(out, `# Benchmark suite: ours vs cache off vs Apollo response cache\n\n` +
      `\`npm run bench\` (bench/suite/run.ts); what each column means: bench/suite/README.md.\n\n${report}\n` +
      (turnsReport ? `\n${turnsReport.replace(/^# /, '## ')}` : ''));
  }
  return sound(result) && (turns === null || turnsSound(turns)) ? 0 : 1;
}

/** The targets of the turns, Apollo's last (the reference of the ratios). */
const TURN_TARGETS: readonly TargetKind[] = ['ours', 'oursTier', 'apollo'];

/** Every target of the turns answered without errors, and ours never stale. */
function turnsSound(turns: InterleavedResult): boolean {
  return turns.totals.every((t) => t.requests > 0 && t.errors === 0 && t.warmUp.errors === 0) &&
    turns.totals.filter((t) => t.target !== 'apollo').every((t) => t.staleReads === 0 && t.warmUp.staleReads === 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let code = 1;
  try {
    code = await main();
  } catch (error) {
    console.error(error);
  }
  process.exit(code);
}
