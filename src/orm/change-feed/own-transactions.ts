import type { SqlEntityManager } from '@mikro-orm/sql';
import type { Evictions } from '../../cache/evictions.ts';
import type { Invalidator } from '../../cache/invalidator.ts';

/**
 * The PostgreSQL transactions this process's mutations wrote, by transaction id, with what each
 * mutation's unit of work evicted after the commit. The change feed reports every write again a
 * few milliseconds later; without this, each write of a mutation was invalidated twice, and the
 * second time moved the clock, re-staled answers rebuilt in between and deleted their leases
 * (measured: 4–12% of the mixed read/write benchmark's throughput).
 *
 * Skipping is safe only for what the unit of work evicted, and only after it did: every key it
 * evicted was evicted after the commit, which is all the feed's repeat would do. Anything else the
 * transaction wrote (raw SQL, em.nativeUpdate inside the mutation) is still applied by the feed.
 * Other processes do not know the id and still repeat, which also covers this process dying
 * between its commit and its invalidation.
 */
export interface OwnTransactions {
  /**
   * Called from the ORM subscriber before a flush's statements run. Inside a unit of work's
   * explicit transaction, learns the transaction's id (one `SELECT`, once per transaction) and
   * remembers the unit of work under it.
   */
  note(em: SqlEntityManager): Promise<void>;
  /**
   * For a notification of transaction `tx`: what this process's unit of work already evicted after
   * that transaction committed — waited for, up to `waitMs` — or null when nothing is known to be
   * done (not ours, forgotten, failed, or still running after the wait).
   */
  covered(tx: string): Promise<Evictions | null>;
}

export interface OwnTransactionsOptions {
  /** How long the feed waits for a unit of work still applying (it normally takes a round trip). */
  readonly waitMs?: number;
  /** How long an entry is kept after its unit of work ended: the feed's lag is milliseconds. */
  readonly keepMs?: number;
}

interface Entry {
  readonly unit: Evictions;
  readonly applied: Promise<boolean>;
}

export function createOwnTransactions(invalidator: Invalidator, options: OwnTransactionsOptions = {}): OwnTransactions {
  const waitMs = options.waitMs ?? 1000;
  const keepMs = options.keepMs ?? 10_000;
  const byId = new Map<string, Entry>();
  const asked = new WeakSet<object>();

  return {
    async note(em) {
      const unit = invalidator.current();
      if (!unit || !em.isInTransaction()) return; // an implicit flush transaction: its writes repeat
      const transaction = em.getTransactionContext() as object;
      if (asked.has(transaction)) return;
      asked.add(transaction);
      // The top-level id, also inside a savepoint: the one the triggers report.
      const [row] = await em.execute<{ tx: string }[]>('SELECT pg_current_xact_id()::text AS tx');
      const tx = String(row!.tx);
      if (byId.has(tx)) return;
      const applied = invalidator.outcome(unit);
      byId.set(tx, { unit, applied });
      // Forgotten a while after the unit of work ended, whichever way it ended.
      void applied.then(() => setTimeout(() => byId.delete(tx), keepMs).unref());
    },

    async covered(tx) {
      const entry = byId.get(tx);
      if (!entry) return null;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), waitMs); });
      try {
        return (await Promise.race([entry.applied, late])) ? entry.unit : null;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
