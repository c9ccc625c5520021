/**
 * Where Q3's server CPU goes, operation by operation (`npm run bench:anatomy`): the costs that the
 * read/write mix adds up — a cache hit, a write, and the answers a write makes us rebuild — each
 * measured on its own, for ours (cache on) and Apollo's response cache, on the suite's data.
 *
 *   npm run bench:anatomy [-- --database-url postgres://… --redis redis://… --workers 24 --seconds 4 --out FILE]
 *
 * Each target runs on a database of its own, seeded alike, and all of them stay up: each step is
 * repeated by `workers` concurrent loops for `seconds` in all per target, steps and targets taking
 * turns in 0.5 s slices (so a drifting machine weighs on both alike); the target's process CPU
 * (`process.cpuUsage()` over IPC), SQL statements and Redis round trips are divided by the steps done. A step is one or two requests, so that differences isolate one operation:
 *
 *   hit                         Q1 of a hot book no step writes
 *   cold                        Q1 of a book nothing has read yet (each once, none warmed): a whole
 *                               miss — what ours pays for an answer a write changed is compared
 *                               with this, what Apollo pays when an answer's maxAge is up
 *   write (title|price|review)  a write to a hot book no step reads, then a hit: minus `hit` = the write
 *   Q1 rebuild after …          a write to a hot book, then Q1 of that book: minus the write's step
 *   Q2 rebuild after …          a write to a book of the first PRICE page (a price kept within that
 *                               page's range), then that page: minus the write's step
 *
 * Apollo's response cache never rebuilds (its answers stay until their TTL): its "rebuilds" are
 * hits of stale answers, so its rebuild rows should read ≈0 — how far they are from 0 is the
 * noise of the differences. Full run: PostgreSQL, the suite's 1k/20k/100k
 * seed; writes bench/results/q3-anatomy.md. `--smoke`: tiny data on SQLite, ~0.3 s steps.
 * `--profile`: V8's sampling profiler runs in each target's process during its slices
 * (cpu-profile.ts), and the report adds each operation's CPU by part (package, file, V8 entry).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { openOrm } from '../../src/orm/open-orm.ts';
import type { SeedCounts } from '../../src/orm/seed/seed-catalog.ts';
import { parseCommandLine, parseTargets, resultsFile, usageError, writeReport } from './command-line.ts';
import { createBenchDatabase, seedAndLoad, type BenchDatabase } from './database.ts';
import { unlinkPrefix } from './suite.ts';
import { addSelfTime, BY_FUNCTION, type SelfTime } from './cpu-profile.ts';
import { spawnTarget, startTarget, TARGET_LABELS, type Target, type TargetKind } from './targets.ts';
import { ADD_REVIEW, createPoster, Q1_QUERY, Q2_QUERY, SET_PRICE, SET_TITLE, sweepQ1, zipfOrder } from './workload.ts';

export interface AnatomyOptions {
  readonly databaseServerUrl: string | undefined;
  readonly redisUrl: string;
  readonly counts: SeedCounts;
  readonly workers: number;
  readonly seconds: number;
  /**
   * Hot books used (the first of the Zipf order), in three sets: B only read (the hits), A1 written
   * and never read (the writes' steps), A2 written and then read (the rebuilds' steps) — so a
   * rebuild pays for its own write's invalidation only, not for earlier writes nobody read back.
   */
  readonly hotBooks: number;
  readonly sweepSeconds: number;
  readonly isolate: boolean;
  readonly targets: readonly TargetKind[];
  /**
   * Profile each slice (V8's sampling profiler in the target's process) and report where each
   * operation's CPU goes. The profiler's own cost is in the CPU columns then: compare within a run.
   */
  readonly profile?: boolean;
  readonly log?: (line: string) => void;
}

/** Each step runs in turns of this long (see measureSteps). */
const SLICE_SECONDS = 0.5;
/** After each turn, the target's work that outlives the requests (the change feed) lands. */
const SETTLE_MS = 150;

export const STEPS = [
  'hit', 'cold',
  'title+hit', 'price+hit', 'review+hit',
  'title+Q1', 'price+Q1', 'review+Q1',
  'title+Q2', 'price+Q2',
] as const;
export type Step = (typeof STEPS)[number];

/** Per step done: the target's CPU (ms), SQL statements, Redis round trips, response-cache hits. */
export interface StepCost {
  readonly steps: number;
  readonly cpuMs: number;
  readonly sql: number;
  readonly redisRoundTrips: number;
  readonly responseCacheHits: number;
  readonly errors: number;
  /** With `profile`: the target's self time per part over all of the step's slices, in µs (cpu-profile.ts). */
  readonly selfTime?: SelfTime;
}

export interface AnatomyResult {
  readonly options: Omit<AnatomyOptions, 'log'>;
  readonly costs: Partial<Record<TargetKind, Record<Step, StepCost>>>;
}

export async function runAnatomy(options: AnatomyOptions): Promise<AnatomyResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const base = `bench.anatomy.${randomBytes(4).toString('hex')}`;
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  // Every target has a database of its own (seeded alike): its writes reach no other target's
  // change feed, and all the targets stay up so that their slices can take turns.
  const runs: { kind: TargetKind; db: BenchDatabase; target?: Target; steps?: TargetSteps; warm?: () => Promise<unknown> }[] = [];
  try {
    await redis.connect();
    for (const kind of options.targets) {
      const run: (typeof runs)[number] = { kind, db: await createBenchDatabase(options.databaseServerUrl) };
      runs.push(run);
      const orm = await openOrm({ databaseUrl: run.db.url });
      const { catalog } = await seedAndLoad(orm, options.counts).finally(() => orm.close(true));
      const order = zipfOrder(catalog.gids.length); // a fixed random permutation: ranks are spread over ids and prices
      const hot = order.slice(0, options.hotBooks);
      const third = (k: number) => hot.filter((_, i) => i % 3 === k).map((b) => catalog.gids[b]!);
      const target = await (options.isolate ? spawnTarget : startTarget)({ kind, databaseUrl: run.db.url, redisUrl: options.redisUrl, prefix: `${base}.${kind}` });
      run.target = target;
      log(`${TARGET_LABELS[kind]} at ${target.url}`);
      // Before each round (measureInTurns): the hot books, which every step but `cold` reads.
      run.warm = () => sweepQ1(target.url, catalog, options.workers, options.sweepSeconds, { from: 0, to: options.hotBooks });
      run.steps = await openSteps(target, options, {
        readOnly: third(0), writtenOnly: third(1), rebuilt: third(2),
        // Never warmed nor read by another step: the cold step reads each of them once.
        cold: order.slice(options.hotBooks).map((b) => catalog.gids[b]!),
      });
    }
    const measured = await measureInTurns(runs.map(({ target, steps, warm }) => ({ target: target!, steps: steps!, warm: warm! })), options);
    const costs: AnatomyResult['costs'] = {};
    for (const [i, { kind }] of runs.entries()) {
      costs[kind] = measured[i]!;
      log(`${TARGET_LABELS[kind]}: ${STEPS.map((step) => `${step} ${measured[i]![step].cpuMs.toFixed(3)}`).join(', ')} (ms CPU per step)`);
    }
    const { log: _log, ...recorded } = options;
    return { options: recorded, costs };
  } finally {
    for (const { db, target, steps } of runs) {
      steps?.close();
      await target?.close();
      await db.drop();
    }
    await unlinkPrefix(redis, base).catch(() => -1);
    redis.disconnect();
  }
}

/** One target's steps, ready to run, and the errors they met since the last reset. */
interface TargetSteps {
  readonly run: Record<Step, () => Promise<unknown>>;
  takeErrors(): number;
  close(): void;
}

async function openSteps(
  target: Target, options: AnatomyOptions,
  /** `cold` is this target's own list: the cold step takes its books from it, each once. */
  books: { readonly readOnly: readonly string[]; readonly writtenOnly: readonly string[]; readonly rebuilt: readonly string[]; readonly cold: string[] },
): Promise<TargetSteps> {
  const poster = createPoster(target.url, options.workers * 2);
  let version = 0;
  let errors = 0;
  const pick = (set: readonly string[]) => set[Math.floor(Math.random() * set.length)]!;
  const post = async (query: string, variables: Record<string, unknown>) => {
    const answer = await poster.post(query, variables);
    if (answer.status !== 200 || answer.body?.errors) errors++;
    return answer;
  };
  const firstPage = (await post(Q2_QUERY, {})).body!.data.books.edges.map((e: { node: { id: string; priceCents: number } }) => e.node);
  const onFirstPage = firstPage.map((n: { id: string }) => n.id) as string[];
  const low = Math.min(...firstPage.map((n: { priceCents: number }) => n.priceCents));
  const high = Math.max(...firstPage.map((n: { priceCents: number }) => n.priceCents));
  // Unique values per write, as in Q3; a first-page price stays within that page's range.
  const writes = {
    title: (id: string) => post(SET_TITLE, { id, title: `anatomy ${++version}` }),
    price: (id: string, withinFirstPage = false) =>
      post(SET_PRICE, { id, price: withinFirstPage ? low + Math.floor(Math.random() * (high - low + 1)) : 1_000 + (++version % 4_000) }),
    review: (id: string) => post(ADD_REVIEW, { bookId: id }),
  };
  // The first page's books are written by the Q2 steps: none of the other sets may hold them.
  const away = (set: readonly string[]) => set.filter((id) => !onFirstPage.includes(id));
  const readOnly = away(books.readOnly);
  const writtenOnly = away(books.writtenOnly);
  const rebuilt = away(books.rebuilt);
  const hit = () => post(Q1_QUERY, { id: pick(readOnly) });
  const run: Record<Step, () => Promise<unknown>> = {
    'hit': hit,
    // false: no book left that nothing has read (the slice ends early rather than count a hit as cold).
    'cold': async () => {
      let id = books.cold.pop();
      while (id !== undefined && onFirstPage.includes(id)) id = books.cold.pop();
      if (id === undefined) return false;
      await post(Q1_QUERY, { id });
      return true;
    },
    'title+hit': async () => { await writes.title(pick(writtenOnly)); await hit(); },
    'price+hit': async () => { await writes.price(pick(writtenOnly)); await hit(); },
    'review+hit': async () => { await writes.review(pick(writtenOnly)); await hit(); },
    'title+Q1': async () => { const id = pick(rebuilt); await writes.title(id); await post(Q1_QUERY, { id }); },
    'price+Q1': async () => { const id = pick(rebuilt); await writes.price(id); await post(Q1_QUERY, { id }); },
    'review+Q1': async () => { const id = pick(rebuilt); await writes.review(id); await post(Q1_QUERY, { id }); },
    'title+Q2': async () => { await writes.title(pick(onFirstPage)); await post(Q2_QUERY, {}); },
    'price+Q2': async () => { await writes.price(pick(onFirstPage), true); await post(Q2_QUERY, {}); },
  };
  return {
    run,
    takeErrors: () => {
      const taken = errors;
      errors = 0;
      return taken;
    },
    close: () => poster.close(),
  };
}

/**
 * Steps and targets take turns in short slices, round after round (the targets' order rotating),
 * so that a machine whose speed drifts (shared cores) shifts every step and every target alike
 * instead of the ones that happened to run late. Each round begins by asking for the hot books
 * (not measured): the first round's ask warms the caches, the later ones keep Apollo's answers,
 * which expire after their maxAge (60 s), from turning a hit step into misses.
 */
async function measureInTurns(
  runs: readonly { readonly target: Target; readonly steps: TargetSteps; readonly warm: () => Promise<unknown> }[], options: AnatomyOptions,
): Promise<Record<Step, StepCost>[]> {
  type Total = { steps: number; errors: number; cpuMicros: number; statements: number; redisRoundTrips: number; responseCacheHits: number; selfTime: SelfTime };
  const totals = runs.map(() => new Map<Step, Total>(
    STEPS.map((step) => [step, { steps: 0, errors: 0, cpuMicros: 0, statements: 0, redisRoundTrips: 0, responseCacheHits: 0, selfTime: {} }])));
  const rounds = Math.max(1, Math.round(options.seconds / SLICE_SECONDS));
  for (let round = 0; round < rounds; round++) {
    for (const { warm } of runs) await warm();
    for (const step of STEPS) {
      for (let k = 0; k < runs.length; k++) {
        const i = (k + round) % runs.length;
        const { target, steps } = runs[i]!;
        const total = totals[i]!.get(step)!;
        const before = await target.counters();
        steps.takeErrors();
        if (options.profile) await target.profile('start');
        const end = performance.now() + (options.seconds / rounds) * 1000;
        await Promise.all(Array.from({ length: options.workers }, async () => {
          while (performance.now() < end) {
            if ((await steps.run[step]()) === false) break;
            total.steps++;
          }
        }));
        // What the slice set going after its answers (the change feed's repeat, deferred fills)
        // lands before the counters are read: it is charged to this step, not the next.
        await sleep(SETTLE_MS);
        if (options.profile) addSelfTime(total.selfTime, await target.profile('stop'));
        const after = await target.counters();
        total.errors += steps.takeErrors();
        for (const key of ['cpuMicros', 'statements', 'redisRoundTrips', 'responseCacheHits'] as const) total[key] += after[key] - before[key];
      }
    }
  }
  return totals.map((byStep) => {
    const result = {} as Record<Step, StepCost>;
    for (const [step, total] of byStep) {
      const per = (n: number) => n / Math.max(1, total.steps);
      result[step] = {
        steps: total.steps, cpuMs: per(total.cpuMicros) / 1000, sql: per(total.statements), redisRoundTrips: per(total.redisRoundTrips),
        responseCacheHits: per(total.responseCacheHits), errors: total.errors,
        ...(options.profile ? { selfTime: total.selfTime } : {}),
      };
    }
    return result;
  });
}

/** Each operation of the report: a step, minus another (the part of the step that is not the operation). */
const WRITES = ['title', 'price', 'review'] as const;
export const OPERATIONS: readonly { readonly name: string; readonly step: Step; readonly minus?: Step }[] = [
  { name: 'hit (Q1)', step: 'hit' },
  { name: 'miss (Q1 of a book never read)', step: 'cold' },
  ...WRITES.map((k) => ({ name: `write: ${k}`, step: `${k}+hit` as const, minus: 'hit' as const })),
  ...WRITES.map((k) => ({ name: `Q1 rebuild after a ${k} write`, step: `${k}+Q1` as const, minus: `${k}+hit` as const })),
  ...(['title', 'price'] as const).map((k) => ({ name: `Q2 page rebuild after a ${k} write`, step: `${k}+Q2` as const, minus: `${k}+hit` as const })),
];

/** The operations derived from the steps (differences), per target. */
export function operations(costs: Record<Step, StepCost>): { name: string; cpuMs: number; sql: number; redisRoundTrips: number }[] {
  return OPERATIONS.map(({ name, step, minus }) => {
    const of = (key: 'cpuMs' | 'sql' | 'redisRoundTrips') => costs[step][key] - (minus ? costs[minus][key] : 0);
    return { name, cpuMs: of('cpuMs'), sql: of('sql'), redisRoundTrips: of('redisRoundTrips') };
  });
}

/** Where each operation's CPU goes: self time per part (ms per operation), from the steps' profiles. */
export function operationParts(costs: Record<Step, StepCost>): { name: string; parts: [string, number][] }[] {
  const perStep = (step: Step): SelfTime => addSelfTime({}, costs[step].selfTime ?? {}, 1 / 1000 / Math.max(1, costs[step].steps));
  return OPERATIONS.map(({ name, step, minus }) => {
    const parts = addSelfTime(perStep(step), minus ? perStep(minus) : {}, -1);
    return { name, parts: Object.entries(parts).sort((a, b) => b[1] - a[1]) };
  });
}

export function formatAnatomy(result: AnatomyResult): string {
  const kinds = Object.keys(result.costs) as TargetKind[];
  const rows = kinds.map((kind) => operations(result.costs[kind]!));
  const lines = [
    '# Q3 anatomy: server CPU per operation',
    '',
    '`npm run bench:anatomy` (bench/suite/anatomy.ts): each operation measured on its own, '
      + `${result.options.workers} concurrent loops, ${result.options.seconds} s per step and target, steps and targets taking ${SLICE_SECONDS} s turns, each target on its own database; operations are differences of steps (see the file's header). `
      + "Apollo's rebuild rows should read ≈0: their distance from 0 is the noise.",
    '',
    `| operation | ${kinds.map((k) => `${TARGET_LABELS[k]} CPU ms`).join(' | ')} | ${kinds.map((k) => `${TARGET_LABELS[k]} SQL / Redis RT`).join(' | ')} |`,
    `|---|${kinds.map(() => '---:').join('|')}|${kinds.map(() => '---:').join('|')}|`,
    ...rows[0]!.map((op, i) => `| ${op.name} | ${rows.map((r) => r[i]!.cpuMs.toFixed(3)).join(' | ')} | ${rows.map((r) => `${r[i]!.sql.toFixed(2)} / ${r[i]!.redisRoundTrips.toFixed(2)}`).join(' | ')} |`),
    '',
    'Response-cache hits per step (a rebuild step of ours should show 0 for its read; Apollo serves its stale answer):',
    '',
    ...kinds.map((k) => `- ${TARGET_LABELS[k]}: ${Object.entries(result.costs[k]!).map(([s, c]) => `${s} ${c.responseCacheHits.toFixed(2)}`).join(', ')}`),
    '',
    `Errors: ${kinds.map((k) => `${TARGET_LABELS[k]} ${Object.values(result.costs[k]!).reduce((n, c) => n + c.errors, 0)}`).join(', ')}.`,
    `Run: ${new Date().toISOString()}, ${result.options.databaseServerUrl ? 'PostgreSQL' : 'SQLite'}, ${result.options.counts.books} books.`,
    ...(result.options.profile ? formatParts(result) : []),
  ];
  return `${lines.join('\n')}\n`;
}

/** How many parts each operation lists (the largest by self time; the rest are summed). */
const TOP_PARTS = BY_FUNCTION ? 40 : 8;

/** `--profile`: each operation's CPU by part, per target (ms per operation; a difference of two steps can be negative). */
function formatParts(result: AnatomyResult): string[] {
  const lines = ['', "## Where each operation's CPU goes (`--profile`)", '',
    'Self time per part (a package, a file of ours, a part of Node, or V8\'s own: GC, system calls such as `writev`) in ms per operation, ' +
    `from V8's sampling profiler in the target's process during the slices; the ${TOP_PARTS} largest, then the rest.`];
  for (const [kind, costs] of Object.entries(result.costs) as [TargetKind, Record<Step, StepCost>][]) {
    lines.push('', `### ${TARGET_LABELS[kind]}`, '', '| operation | profiled ms | largest parts (ms) |', '|---|---:|---|');
    for (const { name, parts } of operationParts(costs)) {
      const total = parts.reduce((sum, [, ms]) => sum + ms, 0);
      const rest = parts.slice(TOP_PARTS).reduce((sum, [, ms]) => sum + ms, 0);
      const shown = parts.slice(0, TOP_PARTS).map(([part, ms]) => `${part} ${ms.toFixed(3)}`);
      lines.push(`| ${name} | ${total.toFixed(3)} | ${[...shown, `rest ${rest.toFixed(3)}`].join(', ')} |`);
    }
  }
  return lines;
}

const USAGE = 'usage: node bench/suite/anatomy.ts [--smoke] [--database-url postgres://…] [--redis redis://…] [--workers N] [--seconds S] [--targets ours,oursTier,apollo] [--profile] [--out FILE]';

/** The command line's values (a positive integer of workers, positive seconds), or exit 2 with the usage. */
function readCommandLine() {
  const values = parseCommandLine({
    smoke: { type: 'boolean', default: false },
    'database-url': { type: 'string' },
    redis: { type: 'string' },
    workers: { type: 'string' },
    seconds: { type: 'string' },
    targets: { type: 'string' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
  }, USAGE);
  const workers = Number(values.workers ?? (values.smoke ? 4 : 24));
  const seconds = Number(values.seconds ?? (values.smoke ? 0.3 : 4));
  if (!Number.isInteger(workers) || workers < 1) usageError('--workers must be a positive integer', USAGE);
  if (!(seconds > 0)) usageError('--seconds must be a positive number', USAGE);
  return { ...values, smoke: values.smoke!, workers, seconds, targets: parseTargets(values.targets, USAGE) ?? ['ours', 'apollo'] };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const values = readCommandLine();
  const { smoke } = values;
  const result = await runAnatomy({
    databaseServerUrl: values['database-url'] ?? (smoke ? undefined : 'postgres://postgres@127.0.0.1:5432/postgres'),
    redisUrl: values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    counts: smoke ? { authors: 50, books: 500, reviews: 2_000 } : { authors: 1_000, books: 20_000, reviews: 100_000 },
    workers: values.workers,
    seconds: values.seconds,
    hotBooks: smoke ? 100 : 4_000,
    sweepSeconds: smoke ? 2 : 20,
    isolate: true,
    targets: values.targets,
    profile: values.profile,
  });
  const report = formatAnatomy(result);
  console.log(`\n${report}`);
  const out = values.out ?? (smoke ? undefined : resultsFile('q3-anatomy.md'));
  if (out) writeReport(out, report);
}
