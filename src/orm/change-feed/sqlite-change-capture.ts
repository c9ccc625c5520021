import type { EventSubscriber, TransactionEventArgs } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/sql';
import { SqliteConnection } from '@mikro-orm/sqlite';
import type { Invalidator } from '../../cache/invalidator.ts';
import type { ChangeFeed } from './change-feed.ts';
import { CHANGE_COLUMNS, evictionsForChanges, toChangeEvent, type ChangeEvent, type ChangeTable } from './change-events.ts';

export interface SqliteChangeCaptureObserver {
  /** Captured changes were handed to the invalidator on their own (not inside a unit of work). */
  applied?(events: readonly ChangeEvent[]): void;
  /** A captured change that could not be read (a bug: the triggers are ours). */
  error?(error: unknown): void;
}

export interface SqliteChangeCaptureOptions {
  readonly orm: { readonly em: SqlEntityManager };
  readonly invalidator: Invalidator;
  readonly observer?: SqliteChangeCaptureObserver;
}

/** The part of better-sqlite3's Database used here (the package ships no types). */
interface NativeSqlite {
  readonly inTransaction: boolean;
  function(name: string, options: { deterministic: boolean }, fn: (table: unknown, old: unknown, now: unknown) => number): unknown;
  exec(sql: string): unknown;
  prepare(sql: string): { all(): unknown[] };
}

const CAPTURED = 'catalog_change_captured';
const LOG_TABLE = 'catalog_change_log';
/** Qualified outside the triggers; a trigger body may only name its tables unqualified. */
const LOG = `temp.${LOG_TABLE}`;
const OPERATIONS = ['insert', 'update', 'delete'] as const;
/** How often rows logged by a transaction MikroORM does not manage are looked for after it ends. */
const POLL_MS = 25;

/**
 * Captures every row change made on the ORM's own SQLite connection — em.nativeUpdate/nativeDelete,
 * QueryBuilder writes, em.execute, ON DELETE CASCADE (SQLite fires the child tables' triggers for
 * cascaded deletes) — with TEMP triggers that call back into JavaScript, and invalidates once the
 * change is committed. TEMP triggers live on this connection only: other programs writing the
 * same file stay invisible (repair with `npm run cache:flush`).
 *
 * When is a change committed? It depends on where the trigger fired:
 *   - an autocommit statement (`db.inTransaction` false while it runs): when the statement
 *     returns. Buffered and applied right after it, before the ORM call that sent it resolves;
 *   - a transaction inside an open Invalidator unit of work (a mutation): merged into that unit,
 *     which applies once after its work resolved, in the same pipeline as the resolver's and the
 *     subscriber's requests (duplicates collapse in the set);
 *   - any other transaction: written by the trigger to a TEMP table, which rolls back with the
 *     transaction (and with a savepoint) — so rolled-back changes disappear by themselves. The rows
 *     are taken out just before MikroORM commits and applied after the commit; rows of a
 *     transaction MikroORM does not manage (raw BEGIN/COMMIT) are read as soon as none is open.
 * A flush outside a mutation is seen here and by the ORM subscriber: two pipelines evicting the
 * same keys, tolerated (an eviction is idempotent).
 */
export async function startSqliteChangeCapture(options: SqliteChangeCaptureOptions): Promise<ChangeFeed> {
  const { orm, invalidator, observer = {} } = options;
  const connection = orm.em.getConnection();
  if (!(connection instanceof SqliteConnection)) {
    throw new TypeError(`startSqliteChangeCapture: the ORM must use the SQLite driver, got ${connection.constructor.name}`);
  }
  const db = (await connection.getNativeClient()) as NativeSqlite;

  let stopped = false;
  let autocommitted: ChangeEvent[] = [];
  let flushScheduled = false;
  let logged = false;
  let poll: NodeJS.Timeout | undefined;
  const pendingByTransaction = new Map<unknown, ChangeEvent[]>();
  const inflight = new Set<Promise<void>>();

  function deliver(events: readonly ChangeEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const done = invalidator.apply(evictionsForChanges(events)).then(() => observer.applied?.(events));
    inflight.add(done);
    return done.finally(() => inflight.delete(done));
  }

  function flushAutocommitted(): Promise<void> {
    const events = autocommitted;
    autocommitted = [];
    return deliver(events);
  }

  /** Takes every logged row out of the TEMP table (inside the caller's transaction, if any). */
  function takeLogged(): ChangeEvent[] {
    if (!logged) return [];
    let rows: { table_name: unknown; old_row: unknown; new_row: unknown }[];
    try {
      rows = db.prepare(`DELETE FROM ${LOG} RETURNING table_name, old_row, new_row`).all() as typeof rows;
    } catch (error) {
      observer.error?.(error); // e.g. the connection is busy streaming: the poll retries
      return [];
    }
    logged = false;
    return rows.flatMap((row) => readEvent(row.table_name, row.old_row, row.new_row) ?? []);
  }

  /** Rows still logged once no transaction is open are committed (a rollback would have removed them). */
  function drainCommitted(): Promise<void> {
    return db.inTransaction ? Promise.resolve() : deliver(takeLogged());
  }

  function readEvent(table: unknown, old: unknown, now: unknown): ChangeEvent | null {
    try {
      return toChangeEvent(table, old == null ? null : JSON.parse(String(old)), now == null ? null : JSON.parse(String(now)));
    } catch (error) {
      observer.error?.(error);
      return null;
    }
  }

  // Called by the triggers, synchronously, in the async context of the code that sent the statement.
  // 1: handled here; 0: the trigger logs the row to the TEMP table.
  db.function(CAPTURED, { deterministic: false }, (table, old, now) => {
    if (stopped) return 1;
    if (!db.inTransaction) {
      const event = readEvent(table, old, now);
      if (event) autocommitted.push(event);
      if (!flushScheduled) {
        // Usually flushed by the statement wrapper below; this covers writes that bypass it.
        flushScheduled = true;
        setImmediate(() => {
          flushScheduled = false;
          void flushAutocommitted();
        });
      }
      return 1;
    }
    // Only a transaction joins the unit of work: an autocommitted change is already durable, and
    // a unit of work whose work then fails would drop it.
    const unit = invalidator.current();
    if (unit) {
      const event = readEvent(table, old, now);
      if (event) evictionsForChanges([event], unit);
      return 1;
    }
    logged = true;
    poll ??= setInterval(() => {
      if (!logged) {
        clearInterval(poll);
        poll = undefined;
      } else {
        void drainCommitted();
      }
    }, POLL_MS).unref();
    return 0;
  });

  db.exec(`CREATE TEMP TABLE IF NOT EXISTS ${LOG_TABLE} (
    seq INTEGER PRIMARY KEY, table_name TEXT NOT NULL, old_row TEXT, new_row TEXT)`);
  for (const table of Object.keys(CHANGE_COLUMNS) as ChangeTable[]) {
    for (const operation of OPERATIONS) db.exec(triggerSql(table, operation));
  }

  const transactions: EventSubscriber = {
    beforeTransactionCommit({ transaction }: TransactionEventArgs) {
      if (stopped || isSavepoint(transaction)) return; // a savepoint's rows belong to the outer transaction
      const events = takeLogged();
      if (events.length > 0) pendingByTransaction.set(transaction, events);
    },
    async afterTransactionCommit({ transaction }: TransactionEventArgs) {
      const events = pendingByTransaction.get(transaction);
      pendingByTransaction.delete(transaction);
      if (events) await deliver(events); // before em.transactional() resolves
    },
    afterTransactionRollback({ transaction }: TransactionEventArgs) {
      pendingByTransaction.delete(transaction); // a failed COMMIT: the rows taken out were rolled back too
    },
  };
  orm.em.getEventManager().registerSubscriber(transactions);

  // Every statement the ORM sends (em.execute, nativeUpdate/Delete, QueryBuilder, flushes) goes
  // through execute(). Waiting there makes a native write resolve only once its eviction is done:
  // the caller's next read cannot find the old value, exactly as after an em.flush().
  const execute = connection.execute;
  connection.execute = async function (this: SqliteConnection, ...args: Parameters<typeof execute>) {
    try {
      return await execute.apply(this, args);
    } finally {
      if (autocommitted.length > 0) await flushAutocommitted();
      if (logged) await drainCommitted();
    }
  } as typeof execute;

  async function settled(): Promise<void> {
    await flushAutocommitted();
    await drainCommitted();
    while (inflight.size > 0) await Promise.all(inflight);
  }

  return {
    settled,
    async stop() {
      await settled();
      stopped = true;
      clearInterval(poll);
      connection.execute = execute;
      if (!db.inTransaction) {
        try {
          for (const table of Object.keys(CHANGE_COLUMNS)) {
            for (const operation of OPERATIONS) db.exec(`DROP TRIGGER IF EXISTS temp.${triggerName(table, operation)}`);
          }
          db.exec(`DROP TABLE IF EXISTS ${LOG}`);
        } catch {
          // The connection is closing; TEMP objects vanish with it.
        }
      }
    },
  };
}

function triggerName(table: string, operation: string): string {
  return `catalog_change_${table}_${operation}`;
}

/** `json_object('id', OLD.id, …)`, or NULL for the side an operation does not have. */
function keysJson(table: ChangeTable, side: 'OLD' | 'NEW', operation: (typeof OPERATIONS)[number]): string {
  if ((side === 'OLD' && operation === 'insert') || (side === 'NEW' && operation === 'delete')) return 'NULL';
  return `json_object(${CHANGE_COLUMNS[table].map((column) => `'${column}', ${side}."${column}"`).join(', ')})`;
}

function triggerSql(table: ChangeTable, operation: (typeof OPERATIONS)[number]): string {
  const old = keysJson(table, 'OLD', operation);
  const now = keysJson(table, 'NEW', operation);
  return `CREATE TEMP TRIGGER IF NOT EXISTS ${triggerName(table, operation)} AFTER ${operation.toUpperCase()} ON main."${table}"
    WHEN NOT ${CAPTURED}('${table}', ${old}, ${now})
    BEGIN INSERT INTO ${LOG_TABLE} (table_name, old_row, new_row) VALUES ('${table}', ${old}, ${now}); END`;
}

/** MikroORM runs a nested em.transactional() as a savepoint; its transaction object names it. */
function isSavepoint(transaction: unknown): boolean {
  return typeof transaction === 'object' && transaction !== null && 'savepointName' in transaction;
}
