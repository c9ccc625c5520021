/**
 * Invalidation cost vs. number of cached pages: our generation-based invalidation (one pipeline of
 * DEL + INCRs through the real Invalidator/RedisStore) against the naive approach (SCAN MATCH of a
 * key pattern over the whole keyspace + DEL of the matches), in the same run, on the same Redis.
 *
 *   node bench/invalidation-cost.ts [--max 100000] [--redis redis://127.0.0.1:6379]
 *
 * Writes only keys under a unique prefix `bench.inval.<random>` (all with a TTL) and unlinks them at
 * the end. Prints a markdown table and writes it to bench/results/invalidation-cost.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Evictions } from '../src/cache/evictions.ts';
import { createInvalidator } from '../src/cache/invalidator.ts';
import { createKeyspace } from '../src/cache/keyspace.ts';
import { createRedisStore } from '../src/cache/redis-store.ts';
import type { StoreOperation } from '../src/cache/store-observer.ts';
import { bookChanged, type BookFacts } from '../src/catalog/change-evictions.ts';
import { BOOK_ORDER_FIELDS, CachedType, families } from '../src/catalog/families.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const MAX = Number(arg('max', '1000000'));
const REDIS_URL = arg('redis', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const SIZES = [1_000, 10_000, 100_000, 1_000_000].filter((n) => n <= MAX);
const PAGES_PER_AUTHOR = 100; // 25 pages per book order (first/after variants)
const TTL_SECONDS = 3600; // leftovers expire even if cleanup never runs
const PIPELINE = 10_000;
const OURS_RUNS = 21;
const NAIVE_RUNS = 5;
const SCAN_COUNT = 1000;

const PREFIX = `bench.inval.${randomBytes(4).toString('hex')}`;
const EPOCH = 1;
const keyspace = createKeyspace(PREFIX, () => EPOCH);
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });

// ~100-byte page value, shaped like a cached connection page (ids + sort values + counts).
function pageValue(author: number, p: number): string {
  const ids = Array.from({ length: 5 }, (_, i) => author * 1000 + p * 5 + i);
  return JSON.stringify({ g: 0, ids, sort: ids.map(String), totalCount: 125, hasNextPage: p < 24 });
}

/** The 100 page keys (and values) of one author: 4 orders × 25 `first`/`after` variants. */
function authorPages(author: number): [string, string][] {
  const out: [string, string][] = [];
  for (const field of BOOK_ORDER_FIELDS) {
    for (let p = 0; p < PAGES_PER_AUTHOR / BOOK_ORDER_FIELDS.length; p++) {
      out.push([keyspace.page(families.authorBooks(author, field), `first=5,after=${p * 5}`), pageValue(author, p)]);
    }
  }
  return out;
}

/** Fills authors [from, to): their pages plus one Author and one Book entity key each. */
async function fillAuthors(from: number, to: number): Promise<void> {
  let pipeline = redis.pipeline();
  let queued = 0;
  for (let a = from; a < to; a++) {
    for (const [key, value] of authorPages(a)) pipeline.set(key, value, 'EX', TTL_SECONDS);
    pipeline.set(keyspace.entity(CachedType.Author, a), `{"id":${a},"name":"Author ${a}"}`, 'EX', TTL_SECONDS);
    pipeline.set(keyspace.entity(CachedType.Book, a), `{"id":${a},"authorId":${a},"title":"Book ${a}"}`, 'EX', TTL_SECONDS);
    queued += PAGES_PER_AUTHOR + 2;
    if (queued >= PIPELINE) {
      await pipeline.exec();
      pipeline = redis.pipeline();
      queued = 0;
    }
  }
  if (queued > 0) await pipeline.exec();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// --- ours: the real code path, counted through the store observer -------------------------------
const roundTrips: { operation: StoreOperation; commands: number }[] = [];
const store = createRedisStore(redis, { roundTrip: (operation, commands) => roundTrips.push({ operation, commands }) });
let lost: unknown = null;
const invalidator = createInvalidator(store, keyspace, { lost: (_e, error) => { lost = error; } });

function book(id: number, authorId: number): BookFacts {
  return { id, authorId, title: `Book ${id}`, priceCents: 1000, publishedYear: 2000 };
}

/** One book moved from author `from` to author `to`: both authors' lists change. */
async function oursOnce(from: number, to: number): Promise<number> {
  const evictions = bookChanged(new Evictions(), book(from, from), book(from, to));
  const started = performance.now();
  await invalidator.apply(evictions);
  const ms = performance.now() - started;
  if (lost) throw lost;
  return ms;
}

// --- naive: SCAN MATCH over the whole keyspace + DEL of the matches ------------------------------
async function naiveOnce(author: number): Promise<{ ms: number; deleted: number; roundTrips: number }> {
  const match = `${PREFIX}:*author.${author}.books*`;
  const started = performance.now();
  let cursor = '0';
  let deleted = 0;
  let trips = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
    trips++;
    cursor = next;
    if (keys.length > 0) {
      deleted += await redis.del(...keys);
      trips++;
    }
  } while (cursor !== '0');
  await redis.del(keyspace.entity(CachedType.Book, author));
  trips++;
  return { ms: performance.now() - started, deleted, roundTrips: trips };
}

async function cleanup(): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 10_000);
    cursor = next;
    if (keys.length > 0) removed += await redis.unlink(...keys);
  } while (cursor !== '0');
  return removed;
}

async function main(): Promise<void> {
  console.log(`prefix ${PREFIX}, sizes ${SIZES.join(', ')}, ${PAGES_PER_AUTHOR} pages per author\n`);
  const rows: string[] = [];
  let commandsPerInvalidation = '';
  let filledAuthors = 0;

  for (const n of SIZES) {
    const authors = n / PAGES_PER_AUTHOR;
    const fillStart = performance.now();
    await fillAuthors(filledAuthors, authors);
    filledAuthors = authors;
    const dbsize = await redis.dbsize();
    const fillSec = ((performance.now() - fillStart) / 1000).toFixed(1);

    // Ours: a book moves between two authors (1 DEL + 8 INCR in one pipeline). Warm up once.
    await oursOnce(0, 1);
    roundTrips.length = 0;
    const ours: number[] = [];
    // Ours uses the lower half of the authors, the naive runs the upper half: the naive pattern
    // would also match (and delete) the generation keys ours creates.
    const half = Math.floor(authors / 2);
    for (let r = 0; r < OURS_RUNS; r++) ours.push(await oursOnce(r % half, (r + 1) % half));
    const trips = roundTrips.length / OURS_RUNS;
    const commands = roundTrips.reduce((s, t) => s + t.commands, 0) / OURS_RUNS;
    commandsPerInvalidation = `${trips} round trip(s), ${commands} commands`;

    // Naive: one author's pattern (a lower bound: a move would need both authors' patterns).
    // Authors from the upper half, refilled after each run so N stays exact.
    const naive: number[] = [];
    let naiveTrips = 0;
    for (let r = 0; r < NAIVE_RUNS; r++) {
      const author = authors - 1 - r;
      const result = await naiveOnce(author);
      if (result.deleted !== PAGES_PER_AUTHOR) throw new Error(`naive deleted ${result.deleted} keys, expected ${PAGES_PER_AUTHOR}`);
      naive.push(result.ms);
      naiveTrips = result.roundTrips;
      await fillAuthors(author, author + 1);
    }

    const o = median(ours);
    const s = median(naive);
    const row = `| ${n.toLocaleString('en-US')} | ${o.toFixed(3)} | ${s.toFixed(1)} | ${Math.round(s / o).toLocaleString('en-US')}× |`;
    rows.push(row);
    console.log(`N=${n}: filled in ${fillSec}s, DBSIZE ${dbsize}; ours ${commandsPerInvalidation}; SCAN+DEL ${naiveTrips} round trips`);
  }

  const table = [
    '| N pages | ours (ms) | SCAN+DEL (ms) | ratio |',
    '|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
  const notes = [
    `Ours: one book moved between two authors through \`createInvalidator(createRedisStore(redis), keyspace).apply(bookChanged(…))\`,`,
    `median of ${OURS_RUNS}: ${commandsPerInvalidation} per invalidation (one script on a single Redis: INCR of the invalidation clock, the book's tombstone, DEL of the book and its lease, INCR of both authors' 4 families, PUBLISH).`,
    `SCAN+DEL: \`SCAN MATCH <prefix>:*author.<id>.books* COUNT ${SCAN_COUNT}\` over the whole keyspace + DEL of the matches,`,
    `median of ${NAIVE_RUNS}, one author only (a move would need two such scans). ${PAGES_PER_AUTHOR} pages per author;`,
    `Redis ${REDIS_URL} (shared; its other keys are scanned too), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
  ].join('\n');
  const markdown = `# Invalidation cost vs. cached pages\n\n${table}\n\n${notes}\n`;
  console.log(`\n${table}\n\n${notes}`);

  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'invalidation-cost.md');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, markdown);
  console.log(`\nwritten to ${out}`);
}

let cleaned = false;
async function finish(code: number): Promise<never> {
  if (!cleaned) {
    cleaned = true;
    const removed = await cleanup().catch(() => -1);
    console.log(`cleanup: unlinked ${removed} keys under ${PREFIX}:*`);
    redis.disconnect();
  }
  process.exit(code);
}
process.on('SIGINT', () => void finish(130));

main().then(
  () => finish(0),
  (error: unknown) => {
    console.error(error);
    return finish(1);
  },
);
