import type { ChangeSet, EventSubscriber, FlushEventArgs, TransactionEventArgs } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/sql';
import { Evictions } from '../cache/evictions.ts';
import type { Invalidator } from '../cache/invalidator.ts';
import {
  authorChanged, bookChanged, booksDeleted, favoritesChanged, reviewChanged, type BookFacts, type ReviewFacts,
} from '../catalog/change-evictions.ts';
import { CachedType } from '../catalog/families.ts';
import { loadCascade, type Cascade } from './queries/load-cascade.ts';

type AnyChangeSet = ChangeSet<Record<string, unknown>>;

/** What onFlush saw before the statements ran: the change sets and the rows deletes will cascade to. */
interface FlushCapture {
  readonly changeSets: readonly AnyChangeSet[];
  readonly cascade: Cascade;
  readonly deletedReviews: ReadonlyMap<number, ReviewFacts>;
}

/**
 * The safety net: turns every flush of the ORM — from a resolver, a script, a job — into eviction
 * requests, computed from each change set's original (pre-change) values and its new ones by the
 * same rules the resolvers use. Requests are carried out only after the data is committed:
 *   - inside an Invalidator unit of work (a mutation), they join it and leave with its evictions;
 *   - inside an explicit transaction, they wait for its commit (dropped on rollback);
 *   - otherwise the flush ran in its own implicit transaction, which has committed: apply now.
 * Blind spots: em.nativeUpdate/nativeDelete, QueryBuilder writes and plain SQL fire no flush.
 */
export function createInvalidationSubscriber(invalidator: Invalidator): EventSubscriber {
  const captures = new WeakMap<object, FlushCapture>();
  const pendingByTransaction = new Map<unknown, Evictions>();
  // Savepoints: evictions of a nested transaction wait for the outermost commit. MikroORM names
  // the parent in beforeTransactionStart and the savepoint in afterTransactionStart, both for the
  // same EntityManager fork, so the fork links the two.
  const parentByEm = new WeakMap<object, object>();
  const rootOf = new WeakMap<object, object>();
  const root = (tx: unknown) => (tx && typeof tx === 'object' ? rootOf.get(tx) ?? tx : tx);
  const isSavepoint = (tx: unknown) => typeof tx === 'object' && tx !== null && 'savepointName' in tx;

  return {
    async onFlush({ uow, em }: FlushEventArgs) {
      const changeSets = uow.getChangeSets() as AnyChangeSet[];
      const deletedIds = (name: string) =>
        changeSets.filter((cs) => cs.type === 'delete' && cs.meta.className === name).map((cs) => Number(cs.getPrimaryKey()));
      const authorIds = deletedIds('Author');
      const bookIds = deletedIds('Book');
      const reviewIds = deletedIds('Review');
      // Deleted rows are read back now, while they exist: the change set may hold only a reference.
      const sql = em as SqlEntityManager;
      captures.set(uow, {
        changeSets,
        cascade: await loadCascade(sql, { authorIds, bookIds }),
        deletedReviews: await loadReviewFacts(sql, reviewIds),
      });
    },

    async afterFlush({ uow, em }: FlushEventArgs) {
      const capture = captures.get(uow);
      captures.delete(uow);
      if (!capture) return;
      const evictions = evictionsOf(capture);
      if (evictions.size === 0) return;

      const unitOfWork = invalidator.current();
      if (unitOfWork) {
        unitOfWork.merge(evictions);
      } else if (em.isInTransaction()) {
        const tx = root(em.getTransactionContext());
        const pending = pendingByTransaction.get(tx) ?? new Evictions();
        pendingByTransaction.set(tx, pending.merge(evictions));
      } else {
        await invalidator.apply(evictions);
      }
    },

    beforeTransactionStart({ em, transaction }: TransactionEventArgs) {
      if (transaction) parentByEm.set(em, transaction);
    },

    afterTransactionStart({ em, transaction }: TransactionEventArgs) {
      const parent = parentByEm.get(em);
      if (transaction && parent && isSavepoint(transaction)) rootOf.set(transaction, root(parent) as object);
    },

    async afterTransactionCommit({ transaction }: TransactionEventArgs) {
      if (isSavepoint(transaction)) return; // released into its parent: the outermost commit applies
      const pending = pendingByTransaction.get(transaction);
      if (!pending) return;
      pendingByTransaction.delete(transaction);
      await invalidator.apply(pending);
    },

    afterTransactionRollback({ transaction }: TransactionEventArgs) {
      // A rolled-back savepoint undid only its own writes, but its evictions were merged into the
      // outer transaction's: keeping them costs a few extra misses, dropping them could cost
      // correctness if they overlapped. The outermost rollback drops everything.
      if (!isSavepoint(transaction)) pendingByTransaction.delete(transaction);
    },
  };
}

function evictionsOf({ changeSets, cascade, deletedReviews }: FlushCapture): Evictions {
  const e = new Evictions();
  for (const cs of changeSets) {
    const before = cs.originalEntity;
    const now = cs.entity;
    switch (`${cs.meta.className}:${cs.type}`) {
      case 'Author:create': authorChanged(e, null, { id: Number(now.id) }); break;
      case 'Author:update': authorChanged(e, { id: Number(now.id) }, { id: Number(now.id) }); break;
      case 'Author:delete': authorChanged(e, { id: Number(cs.getPrimaryKey()) }, null); break;
      case 'Book:create': bookChanged(e, null, bookFacts(now)); break;
      case 'Book:update': bookChanged(e, bookFacts({ ...now, ...before }), bookFacts(now)); break;
      case 'Review:create': reviewChanged(e, null, reviewFacts(now)); break;
      case 'Review:update': reviewChanged(e, reviewFacts({ ...now, ...before }), reviewFacts(now)); break;
      // Favorites: the account's own list (create and delete; a favorite is never updated).
      case 'Favorite:create': favoritesChanged(e, refId(now.account)); break;
      case 'Favorite:delete': favoritesChanged(e, refId((before ?? now).account)); break;
      case 'Account:update': e.entity(CachedType.Account, Number(now.id)); break;
      case 'Account:delete': favoritesChanged(e.entity(CachedType.Account, Number(cs.getPrimaryKey())), Number(cs.getPrimaryKey())); break;
      case 'Review:delete': {
        const facts = deletedReviews.get(Number(cs.getPrimaryKey()));
        if (facts) reviewChanged(e, facts, null);
        break;
      }
    }
  }
  // Book deletes, direct or through a deleted author, with the reviews the database cascades to.
  booksDeleted(e, cascade.books, cascade.reviewIdsByBook, cascade.favoritedBy);
  return e;
}

/** A relation in entity data is a primary key (original data) or an entity/reference (live entity). */
function refId(value: unknown): number {
  return Number(typeof value === 'object' && value !== null ? (value as { id: unknown }).id : value);
}

function bookFacts(data: Record<string, unknown>): BookFacts {
  return {
    id: Number(data.id),
    authorId: refId(data.author),
    title: String(data.title),
    priceCents: Number(data.priceCents),
    publishedYear: data.publishedYear === null || data.publishedYear === undefined ? null : Number(data.publishedYear),
  };
}

function reviewFacts(data: Record<string, unknown>): ReviewFacts {
  return { id: Number(data.id), bookId: refId(data.book), rating: Number(data.rating) };
}

async function loadReviewFacts(em: SqlEntityManager, ids: readonly number[]): Promise<Map<number, ReviewFacts>> {
  if (ids.length === 0) return new Map();
  const rows = await em.execute<{ id: unknown; book_id: unknown; rating: unknown }[]>(
    `SELECT id, book_id, rating FROM review WHERE id IN (${ids.map(() => '?').join(', ')})`,
    [...ids],
  );
  return new Map(rows.map((r) => [Number(r.id), { id: Number(r.id), bookId: Number(r.book_id), rating: Number(r.rating) }]));
}
