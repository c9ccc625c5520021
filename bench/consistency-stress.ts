/**
 * Consistency stress test: concurrent readers against three kinds of writers (the updateBook
 * mutation, a MikroORM job, plain SQL), every read checked against what was committed. See
 * bench/consistency/run-stress.ts for the model and the exact staleness rule.
 *
 *   npm run stress -- [--seconds 60] [--min-reads N] [--readers 24] [--books 200] [--sql-bound-ms 1000]
 *                     [--write-rate 300] [--writers 4] [--servers 2] [--zipf 1.1] [--kinds graphql,orm,sql]
 *                     [--no-sql | --sql auto] [--stall-ms 300 --stall-every-ms 3000]
 *                     [--no-follow-ups] [--local-cache-max N] [--database-url postgres://…] [--redis redis://…] [--json]
 *
 * Needs PostgreSQL (a fresh database `cc_stress_<random>` is created on --database-url's server,
 * default TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test, and dropped afterwards) and
 * Redis (keys under a unique prefix `stress.<random>`, unlinked afterwards).
 * Exit status: 0 no stale read, no impossible value, no error; 1 otherwise; 2 bad usage or setup failure.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatReport, passed, runStress, SQL_BOUND_MS, WRITE_KINDS, type StressOptions, type WriteKind } from './consistency/run-stress.ts';

const usage = 'usage: npm run stress -- [--seconds T] [--min-reads N] [--readers N] [--books N] [--sql-bound-ms B] ' +
  '[--write-rate W] [--writers N] [--servers N] [--zipf S] [--kinds graphql,orm,sql] [--no-sql | --sql on|off|auto] [--no-follow-ups] ' +
  '[--stall-ms S [--stall-every-ms E]] [--local-cache-max N] ' +
  '[--database-url URL] [--redis URL] [--json]';

const spec = {
  seconds: { type: 'string', default: '60' },
  'min-reads': { type: 'string', default: '0' },
  readers: { type: 'string', default: '24' },
  books: { type: 'string', default: '200' },
  'sql-bound-ms': { type: 'string', default: String(SQL_BOUND_MS) },
  'write-rate': { type: 'string', default: '300' },
  writers: { type: 'string', default: '4' },
  servers: { type: 'string', default: '2' },
  zipf: { type: 'string', default: '1.1' },
  sql: { type: 'string', default: 'on' },
  kinds: { type: 'string', default: 'graphql,orm,sql' },
  'stall-ms': { type: 'string', default: '0' },
  'stall-every-ms': { type: 'string', default: '3000' },
  'no-sql': { type: 'boolean', default: false },
  'no-follow-ups': { type: 'boolean', default: false },
  'local-cache-max': { type: 'string', default: '0' },
  'database-url': { type: 'string' },
  redis: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

function parse() {
  try {
    return parseArgs({ options: spec }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
}
const values = parse();
if (values.help) {
  console.log(usage);
  process.exit(0);
}

function number(name: 'seconds' | 'min-reads' | 'readers' | 'books' | 'sql-bound-ms' | 'write-rate' | 'writers' | 'servers' | 'zipf' | 'stall-ms' | 'stall-every-ms' | 'local-cache-max', { integer = true, min = 0 } = {}): number {
  const raw = values[name];
  const n = Number(raw);
  if (typeof raw !== 'string' || raw === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) {
    console.error(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${JSON.stringify(raw)}\n${usage}`);
    process.exit(2);
  }
  return n;
}

const sql = values['no-sql'] ? 'off' : values.sql;
if (sql !== 'on' && sql !== 'off' && sql !== 'auto') {
  console.error(`--sql must be on, off or auto, got ${JSON.stringify(sql)}\n${usage}`);
  process.exit(2);
}

const kinds = values.kinds.split(',').map((k) => k.trim()).filter(Boolean);
const unknownKind = kinds.find((k) => !(WRITE_KINDS as readonly string[]).includes(k));
if (kinds.length === 0 || unknownKind !== undefined) {
  console.error(`--kinds must list some of ${WRITE_KINDS.join(', ')}, got ${JSON.stringify(values.kinds)}\n${usage}`);
  process.exit(2);
}

const options: StressOptions = {
  kinds: kinds as WriteKind[],
  seconds: number('seconds', { integer: false, min: 1 }),
  minReads: number('min-reads'),
  readers: number('readers', { min: 1 }),
  books: number('books', { min: 21 }),
  sqlBoundMs: number('sql-bound-ms', { integer: false }),
  writeRate: number('write-rate', { integer: false, min: 1 }),
  writersPerKind: number('writers', { min: 1 }),
  servers: number('servers', { min: 1 }),
  zipf: number('zipf', { integer: false }),
  sql,
  followUps: !values['no-follow-ups'],
  stallMs: number('stall-ms'),
  stallEveryMs: number('stall-every-ms', { min: 1 }),
  // The servers' in-process tier (LOCAL_CACHE_MAX; 0: off, the default configuration).
  serverEnv: number('local-cache-max') > 0 ? { LOCAL_CACHE_MAX: String(number('local-cache-max')) } : {},
  redisUrl: values.redis,
  progress: (line) => console.error(line),
  signal: interruption(),
};

/** Ctrl-C (or SIGTERM) ends the run early and still cleans up (servers, database, Redis keys); a second one exits at once. */
function interruption(): AbortSignal {
  const controller = new AbortController();
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.on(name, () => {
      if (controller.signal.aborted) process.exit(130);
      console.error(`${name}: stopping the run and cleaning up (again to exit at once)`);
      controller.abort();
    });
  }
  return controller.signal;
}

// The server processes are started from the project root (src/server/main.ts), as `npm start` does.
process.chdir(join(dirname(fileURLToPath(import.meta.url)), '..'));
process.env.TEST_DATABASE_URL = values['database-url'] || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

console.error(`consistency stress: ${options.seconds} s${options.minReads ? ` (at least ${options.minReads} reads)` : ''}, ` +
  `plain-SQL writer ${sql === 'off' ? 'skipped (--no-sql)' : sql}, database server ${new URL(process.env.TEST_DATABASE_URL).host}`);
try {
  const result = await runStress(options);
  console.log(values.json ? JSON.stringify(result, null, 2) : formatReport(result));
  process.exitCode = passed(result) ? 0 : 1;
  if (result.interrupted) console.error('interrupted: the run was cut short');
} catch (error) {
  console.error(`consistency stress could not run: ${(error as Error).stack ?? error}`);
  process.exitCode = 2;
}
