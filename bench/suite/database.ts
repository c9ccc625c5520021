/**
 * The suite's own database: a fresh PostgreSQL database `bench_suite_<random>` on the given server
 * (dropped at the end), or a temporary SQLite file; seeded once with seedCatalog, read back into the
 * driver's Catalog, and restored after each target's Q3 (the books it wrote get their seeded price
 * and title back, the reviews it added are deleted), so that every target sees the same data.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { toGlobalId } from '../../src/graphql/global-id.ts';
import { parseDatabaseUrl } from '../../src/orm/database-url.ts';
import type { CatalogOrm } from '../../src/orm/open-orm.ts';
import { seedCatalog, type SeedCounts } from '../../src/orm/seed/seed-catalog.ts';
import type { Catalog } from './workload.ts';

export interface BenchDatabase {
  readonly url: string;
  readonly driver: 'sqlite' | 'postgresql';
  /** Database name (PostgreSQL) or file (SQLite). */
  readonly name: string;
  drop(): Promise<void>;
}

/** serverUrl: `postgres://…` (any database on that server: a new one is created next to it); undefined: SQLite. */
export async function createBenchDatabase(serverUrl: string | undefined): Promise<BenchDatabase> {
  const suffix = randomBytes(4).toString('hex');
  if (serverUrl === undefined) {
    const dir = await mkdtemp(join(tmpdir(), 'bench-suite-'));
    const file = join(dir, 'catalog.sqlite3');
    return { url: `sqlite:${file}`, driver: 'sqlite', name: file, drop: () => rm(dir, { recursive: true, force: true }) };
  }
  if (parseDatabaseUrl(serverUrl).driver !== 'postgresql') throw new TypeError(`--database-url must be postgres://…, got ${serverUrl}`);
  const name = `bench_suite_${suffix}`;
  await onServer(serverUrl, `create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(), driver: 'postgresql', name,
    drop: () => onServer(serverUrl, `drop database if exists "${name}" with (force)`),
  };
}

async function onServer(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface SeededCatalog {
  readonly catalog: Catalog;
  readonly maxReviewId: number;
  readonly seedSeconds: number;
}

/** Seeds (seedCatalog, fixed seed), refreshes planner statistics, and reads the books back. */
export async function seedAndLoad(orm: CatalogOrm, counts: SeedCounts): Promise<SeededCatalog> {
  const started = performance.now();
  await seedCatalog(orm, counts, 42);
  const connection = orm.em.getConnection();
  await connection.execute('analyze'); // fresh planner statistics for every target alike
  const seedSeconds = (performance.now() - started) / 1000;

  const books = await connection.execute<{ id: number | string; price_cents: number; title: string }[]>(
    'select id, price_cents, title from book order by id');
  const counted = await connection.execute<{ book_id: number | string; n: number | string }[]>(
    'select book_id, count(*) as n from review group by book_id');
  const [max] = await connection.execute<{ m: number | string | null }[]>('select max(id) as m from review');
  const dbIds = books.map((b) => Number(b.id));
  const indexOfDbId = new Map(dbIds.map((id, i) => [id, i]));
  const reviewCount = dbIds.map(() => 0);
  for (const row of counted) reviewCount[indexOfDbId.get(Number(row.book_id))!] = Number(row.n);
  const gids = dbIds.map((id) => toGlobalId('Book', id));
  return {
    catalog: {
      gids, dbIds, reviewCount,
      price: books.map((b) => Number(b.price_cents)),
      title: books.map((b) => b.title),
      indexOfGid: new Map(gids.map((g, i) => [g, i])),
    },
    maxReviewId: Number(max?.m ?? 0),
    seedSeconds,
  };
}

/** Puts the seeded price and title back on the books a run wrote, and deletes the reviews it added. */
export async function restoreCatalog(orm: CatalogOrm, seeded: SeededCatalog, touchedBooks: Iterable<number>): Promise<number> {
  const { catalog } = seeded;
  const indexOfDbId = new Map(catalog.dbIds.map((id, i) => [id, i]));
  let restored = 0;
  await orm.em.fork().transactional(async (em) => {
    for (const id of new Set(touchedBooks)) {
      const b = indexOfDbId.get(id)!;
      await em.execute('update book set price_cents = ?, title = ? where id = ?', [catalog.price[b], catalog.title[b], id]);
      restored++;
    }
    await em.execute('delete from review where id > ?', [seeded.maxReviewId]);
  });
  return restored;
}
