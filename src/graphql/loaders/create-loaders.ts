import type DataLoader from 'dataloader';
import { LRUCache } from 'lru-cache';
import type { SqlEntityManager } from '@mikro-orm/sql';
import type { CacheStore } from '../../cache/cache-store.ts';
import { createKeyReader } from '../../cache/key-reader.ts';
import type { Keyspace } from '../../cache/keyspace.ts';
import type { DependencyRecorder } from '../../cache/dependencies.ts';
import type { FillQueue } from '../../cache/fill-queue.ts';
import { createReadThroughLoader, type FillProtection, type LoaderObserver } from '../../cache/read-through-loader.ts';
import { CachedType } from '../../catalog/families.ts';
import type { Page, PageSpec } from '../../catalog/page.ts';
import {
  accountFromSql, authorFromSql, bookFromSql, reviewFromSql,
  type AccountRow, type AuthorRow, type BookRow, type BookStats, type ReviewRow, type SqlRow,
} from '../../catalog/rows.ts';
import { loadBookStats } from '../../orm/queries/load-book-stats.ts';
import { loadPages } from '../../orm/queries/load-pages.ts';
import { loadRowsById } from '../../orm/queries/load-rows-by-id.ts';
import type { TtlOf } from '../cache-policy.ts';
import { pageLocation, pageRanges, pageVariant, familyOf } from './page-location.ts';

export interface LoaderDependencies {
  readonly em: SqlEntityManager;
  readonly store: CacheStore;
  readonly keyspace: Keyspace;
  readonly ttlOf: TtlOf;
  readonly observer?: LoaderObserver;
  readonly protection?: FillProtection;
  /** Learns what the request read, for its whole-response cache entry. */
  readonly recorder?: DependencyRecorder;
  /** Test seam, see ReadThroughOptions.beforeFill. */
  readonly beforeFill?: (name: string, keys: readonly unknown[]) => Promise<void>;
  /** See ReadThroughOptions.fills: where the request queues its fills, to send them at once before answering. */
  readonly fills?: FillQueue;
  /** A rebuild's snapshot of what the stale answer was built from (ResponseLookup.snapshot, key-reader.ts). */
  readonly snapshot?: ReadonlyMap<string, string | null>;
}

type ById<T> = DataLoader<number, T | null, string>;

export interface Loaders {
  readonly author: ById<AuthorRow>;
  readonly book: ById<BookRow>;
  readonly review: ById<ReviewRow>;
  readonly bookStats: ById<BookStats>;
  /** The viewer's own account (PRIVATE: keyed by the account, asked only for the signed-in one). */
  readonly account: ById<AccountRow>;
  /** Pages of every list; pages of one depth of a query share one lookup and one query per table. */
  readonly pages: DataLoader<PageSpec, Page | null, string>;
}

/** Whole-table totalCounts by list generation (see the pages loader), shared by every request of the process. */
const knownTotals = new LRUCache<string, number>({ max: 1000 });

const CONNECTION_TYPE = { author: 'AuthorConnection', book: 'BookConnection', review: 'ReviewConnection', favorite: 'BookConnection' } as const;

/** The request's loaders: all read through one KeyReader, so one depth of a query is one MGET. */
export function createLoaders({ em, store, keyspace, ttlOf, observer, protection, recorder, beforeFill, fills, snapshot }: LoaderDependencies): Loaders {
  const reader = createKeyReader(store, snapshot);
  const common = { reader, store, observer, protection, recorder, beforeFill, fills, clockKey: keyspace.clock };
  const entityLocation = (type: string, id: number) => ({
    cacheKey: keyspace.entity(type, id), tombstoneKey: keyspace.tombstone(type, id), leaseKey: keyspace.entityLease(type, id),
  });

  const byId = <T extends { id: number }>(type: 'Author' | 'Book' | 'Review', table: 'author' | 'book' | 'review', fromSql: (r: SqlRow) => T) =>
    createReadThroughLoader<number, T>({
      ...common,
      name: type,
      locate: (id) => entityLocation(type, id),
      fetch: (ids) => loadRowsById(em, table, ids, fromSql),
      ttlSeconds: ttlOf(type),
    });

  const author = byId('Author', 'author', authorFromSql);
  const book = byId('Book', 'book', bookFromSql);
  const review = byId('Review', 'review', reviewFromSql);
  const entityOf = {
    author: [author, authorFromSql, 'Author'], book: [book, bookFromSql, 'Book'], review: [review, reviewFromSql, 'Review'],
    // A favorites page lists books: their rows are PUBLIC and fill the shared Book keys.
    favorite: [book, bookFromSql, 'Book'],
  } as const;

  const bookStats = createReadThroughLoader<number, BookStats>({
    ...common,
    name: CachedType.BookStats,
    locate: (id) => entityLocation(CachedType.BookStats, id),
    fetch: (ids) => loadBookStats(em, ids),
    // The aggregate backs Book's scalar fields, which inherit Book's maxAge.
    ttlSeconds: ttlOf('Book'),
  });

  const account = createReadThroughLoader<number, AccountRow>({
    ...common,
    name: CachedType.Account,
    locate: (id) => entityLocation(CachedType.Account, id),
    fetch: (ids) => loadRowsById(em, 'account', ids, accountFromSql, 'id, email'),
    ttlSeconds: ttlOf('Account'),
  });

  const pages = createReadThroughLoader<PageSpec, Page>({
    ...common,
    name: 'Page',
    locate: (spec) => pageLocation(keyspace, spec),
    memoKey: (spec) => `${familyOf(spec)}:${pageVariant(spec)}`,
    rangesOf: (spec, page) => pageRanges(keyspace, spec, page),
    ttlSeconds: (spec) => ttlOf(CONNECTION_TYPE[spec.table]),
    async fetch(specs, sideFill, generationOf) {
      // A list's totalCount changes only with its members, which bump its generation: a total
      // counted under the generation this batch read is still right (the whole table's COUNT is
      // the one worth sparing).
      const totalKeys = specs.map((spec) => {
        const generation = spec.partition === null ? generationOf(spec) : null;
        return generation === null ? null : `${keyspace.generation(familyOf(spec))}@${generation}`;
      });
      const loaded = await loadPages(em, specs, totalKeys.map((key) => (key === null ? undefined : knownTotals.get(key))));
      loaded.forEach(({ page }, i) => { if (totalKeys[i] !== null) knownTotals.set(totalKeys[i]!, page.total); });
      // The rows a page query returned are the entities its edges will ask for next: prime this
      // request's loader and fill their keys in the same write-back, saving a lookup and a query.
      loaded.forEach(({ rows }, i) => {
        const [loader, fromSql, type] = entityOf[specs[i]!.table];
        for (const raw of rows) {
          const row = fromSql(raw);
          (loader as ById<typeof row>).prime(row.id, row);
          // Versioned by the page batch's clock reading, taken before this query ran.
          sideFill({ key: keyspace.entity(type, row.id), tombstoneKey: keyspace.tombstone(type, row.id), value: row, ttlSeconds: ttlOf(type) });
        }
      });
      return loaded.map((l) => l.page);
    },
  });

  return { author, book, review, bookStats, account, pages };
}
