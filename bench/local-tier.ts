/**
 * The in-process tier's effect, tier off against on, in one run on the same database, each server
 * in its own process (the suite's spawnTarget), each with an empty cache: warm Q1 reads
 * (`book(id:)` with its author and 5 reviews, Zipf ids, s = 1.1) on the resolver path (no
 * whole-response cache) and with the whole-response cache (the default: whole answers held in
 * process), and Q2's cursor walk with the whole-response cache.
 *
 *   npm run bench:local-tier [-- --database-url postgres://… --redis redis://… --connections 24 --max 10000]
 *
 * Off and on start side by side; each is warmed with one Q1 per book and 3 s each of the Zipf load
 * and of Q2 (not measured), then they are measured in alternating 3 s windows (off, on, off, on,
 * off, on) with autocannon, so that load from elsewhere on a shared machine falls on both alike.
 * Prints and writes bench/results/local-tier.md: req/s, p50/p99, Redis round trips and SQL per
 * request, and the on/off ratios. Keys live under `bench.tier.<random>` and are unlinked at the end;
 * the database `bench_suite_<random>` is dropped.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { openOrm } from '../src/orm/open-orm.ts';
import { createBenchDatabase, seedAndLoad } from './suite/database.ts';
import { spawnTarget } from './suite/targets.ts';
import { runQ1, runQ2, sweepQ1 } from './suite/workload.ts';

const { values: args } = parseArgs({
  options: {
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    redis: { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    connections: { type: 'string', default: '24' },
    max: { type: 'string', default: '10000' },
    out: { type: 'string', default: new URL('./results/local-tier.md', import.meta.url).pathname },
  },
});
const connections = Number(args.connections);
const tierMax = Number(args.max);
const COUNTS = { authors: 100, books: 2_000, reviews: 10_000 };
const WARM_SECONDS = 3;
const WINDOW_SECONDS = 3;
const ROUNDS = 3;
const ZIPF = 1.1;

interface Measured {
  readonly label: string;
  readonly reqPerSec: number;
  /** Medians over the windows. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly roundTripsPerRequest: number;
  readonly sqlPerRequest: number;
  readonly cpuMsPerRequest: number;
}

/**
 * What is compared, tier off against on: the resolver path (no whole-response cache: the loaders
 * read entities and pages through the tier), and the default configuration (whole answers held in
 * process) under Q1 and under Q2's cursor walk.
 */
const GROUPS = [
  { kind: 'loadersOnly', scenario: 'Q1', title: 'resolver path (RESPONSE_CACHE=off), warm Q1' },
  { kind: 'ours', scenario: 'Q1', title: 'whole-response cache on (the default), warm Q1' },
  { kind: 'ours', scenario: 'Q2', title: 'whole-response cache on (the default), Q2 cursor walk' },
] as const;
const KINDS = ['loadersOnly', 'ours'] as const;

const log = (line: string) => console.error(line);
const prefix = `bench.tier.${randomBytes(4).toString('hex')}`;
const db = await createBenchDatabase(args['database-url']);
const redis = new Redis(args.redis);
try {
  const orm = await openOrm({ databaseUrl: db.url });
  log(`seeding ${COUNTS.books} books in ${db.name}…`);
  const { catalog } = await seedAndLoad(orm, COUNTS);
  await orm.close();

  // For each kind of server, tier off and on run side by side and are measured in alternating
  // windows (off, on, off, on…), so that load from elsewhere on a shared machine falls on both alike.
  const modes = [['tier off', 0], [`tier on (LOCAL_CACHE_MAX=${tierMax})`, tierMax]] as const;
  const targets = new Map(await Promise.all(KINDS.map(async (kind) => [kind, await Promise.all(modes.map(([, max]) =>
    spawnTarget({ kind, databaseUrl: db.url, redisUrl: args.redis, prefix: `${prefix}.${kind}.${max}`, localCacheMax: max })))] as const)));
  const sections: string[] = [];
  try {
    for (const kind of KINDS) {
      for (const [m, [label]] of modes.entries()) {
        log(`${kind}, ${label}: warming (one Q1 per book, then ${WARM_SECONDS} s of the Zipf load and of Q2)…`);
        const url = targets.get(kind)![m]!.url;
        await sweepQ1(url, catalog, connections, 15);
        await runQ1({ url, connections, seconds: WARM_SECONDS, catalog, zipf: ZIPF, seed: 1 });
        await runQ2({ url, connections, seconds: WARM_SECONDS, seed: 1 });
      }
    }
    for (const group of GROUPS) {
      const totals = modes.map(() => ({ requests: 0, seconds: 0, p50: [] as number[], p99: [] as number[], rt: 0, sql: 0, cpu: 0 }));
      for (let round = 0; round < ROUNDS; round++) {
        for (const [m, [label]] of modes.entries()) {
          const target = targets.get(group.kind)![m]!;
          const before = await target.counters();
          const common = { url: target.url, connections, seconds: WINDOW_SECONDS, seed: 2 + round };
          const load = group.scenario === 'Q1' ? await runQ1({ ...common, catalog, zipf: ZIPF }) : await runQ2(common);
          const after = await target.counters();
          if (load.errors > 0) throw new Error(`${group.title}, ${label}: ${load.errors} errors, e.g. ${load.errorSamples[0]}`);
          const t = totals[m]!;
          t.requests += load.requests;
          t.seconds += load.seconds;
          t.p50.push(load.p50Ms);
          t.p99.push(load.p99Ms);
          t.rt += after.redisRoundTrips - before.redisRoundTrips;
          t.sql += after.statements - before.statements;
          t.cpu += after.cpuMicros - before.cpuMicros;
          log(`${group.title}, ${label}, window ${round + 1}/${ROUNDS}: ${load.reqPerSec.toFixed(0)} req/s`);
        }
      }
      sections.push(table(group.title, modes.map(([label], m) => measured(label, totals[m]!))));
    }
  } finally {
    await Promise.all([...targets.values()].flat().map((t) => t.close()));
  }

  const report = [
    '# In-process tier: tier off vs on',
    '',
    `\`npm run bench:local-tier\` — ${new Date().toISOString().slice(0, 10)}, ${db.driver}, ${cpus().length} cores, ` +
      `${COUNTS.books} books (Zipf s = ${ZIPF}), ${connections} connections, warm-up: one Q1 per book + ${WARM_SECONDS} s of Q1 and of Q2, then ${ROUNDS} × ${WINDOW_SECONDS} s measured per mode in alternating windows, ` +
      `load avg at end ${loadavg()[0]!.toFixed(2)}.`,
    '',
    'Q1: `book(id:) { id title priceCents reviewCount author { id name } reviews(first: 5) { totalCount edges { node { … } } } }`; Q2: `books(first: 20, after:, orderBy: PRICE ASC)` pages walked by cursor (bench/suite/README.md).',
    'Each mode\'s server in its own process (the suite\'s target host), each starting with an empty cache, off and on running side by side and measured in',
    'alternating windows (p50/p99: median over the windows); the load generator (autocannon),',
    'PostgreSQL and Redis share the machine. Redis RT/req: the store\'s round trips, the tier\'s barrier PINGs included (reads answered in process share one).',
    '',
    ...sections,
  ].join('\n');
  console.log(report);
  await writeFile(args.out, report);
  log(`written to ${args.out}`);
} finally {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}.*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  await db.drop();
}

function measured(label: string, t: { requests: number; seconds: number; p50: number[]; p99: number[]; rt: number; sql: number; cpu: number }): Measured {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return {
    label, reqPerSec: t.requests / t.seconds, p50Ms: median(t.p50), p99Ms: median(t.p99),
    roundTripsPerRequest: t.rt / t.requests, sqlPerRequest: t.sql / t.requests, cpuMsPerRequest: t.cpu / 1000 / t.requests,
  };
}

function table(title: string, [off, on]: Measured[]): string {
  const fixed = (n: number, digits = 2) => n.toFixed(digits);
  const row = (m: Measured) =>
    `| ${m.label} | ${fixed(m.reqPerSec, 0)} | ${fixed(m.p50Ms)} | ${fixed(m.p99Ms)} | ${fixed(m.roundTripsPerRequest)} | ${fixed(m.sqlPerRequest, 3)} | ${fixed(m.cpuMsPerRequest, 3)} |`;
  const ratio = (a: number, b: number) => (b > 0 ? `${fixed(a / b)}×` : '–');
  return [
    `## ${title}`,
    '',
    '| mode | req/s | p50 ms | p99 ms | Redis RT/req | SQL/req | server CPU ms/req |',
    '|---|---|---|---|---|---|---|',
    row(off!),
    row(on!),
    `| **on / off** | **${ratio(on!.reqPerSec, off!.reqPerSec)}** | ${ratio(on!.p50Ms, off!.p50Ms)} | ${ratio(on!.p99Ms, off!.p99Ms)} | ` +
      `${ratio(on!.roundTripsPerRequest, off!.roundTripsPerRequest)} | | ${ratio(on!.cpuMsPerRequest, off!.cpuMsPerRequest)} |`,
    '',
  ].join('\n');
}
