import { CHANGE_COLUMNS, type ChangeEvent } from './change-events.ts';

/** How long the change feed waits for this process's own invalidation of a row before doing it again. */
const SETTLE_WAIT_MS = 2_000;

/** A row change this process is about to commit (OwnCommits.expect). */
export interface OwnCommit {
  /**
   * Once the change has committed and this process's invalidation of it has run: `true` if it
   * reached the store. `false` (rolled back, not invalidated, or it failed): the feed invalidates.
   * The first call counts.
   */
  settle(invalidated: boolean): void;
}

/**
 * The row changes this process commits and invalidates itself (a mutation), so that the change
 * feed need not invalidate them a second time when their notification arrives — which also keeps
 * what the writer filled in its own invalidation (EntityEviction.fill) from being deleted again.
 *
 * A change is registered before its COMMIT and decided by the first notification about its row:
 * the same key columns before and after → it is skipped if this process's invalidation reached the
 * store; anything else → the record is dropped and the feed invalidates as always. Sound because
 * PostgreSQL delivers notifications in commit order: a notification about the row from a commit
 * *after* ours arrives after ours, and ours has removed the record by then (matched or not); one
 * from a commit *before* ours that happens to match is covered by our invalidation, which ran after
 * our commit. Records are forgotten when notifications may have been lost (the listener's
 * reconnect retires the whole cache then) and, for a change that never commits, by `settle(false)`.
 */
export interface OwnCommits {
  /**
   * Whether the feed is listening now: only then is a commit's notification sure to arrive (a
   * record registered otherwise could wait for a later commit's and wrongly match it).
   */
  listening(): boolean;
  /**
   * Registers `event` before its COMMIT (an UPDATE; an INSERT, `old` null — only the inserting
   * commit can be the first to report a new id; or a DELETE, `new` null — a change committed before
   * it is reported first and does not match); a no-op while not listening.
   */
  expect(event: ChangeEvent): OwnCommit;
  /**
   * Whether the notified `event` is one this process has invalidated itself (then the feed skips
   * it). Removes the row's record whatever the answer.
   */
  covers(event: ChangeEvent): Promise<boolean>;
  /**
   * The listener's state changed (connected and listening, or lost): every record goes — across a
   * gap, notifications may have been lost, and the reconnect retires the whole cache anyway.
   */
  setListening(listening: boolean): void;
  /** Records waiting for their notification (tests). */
  size(): number;
}

interface Pending {
  readonly event: ChangeEvent;
  readonly outcome: Promise<boolean>;
  readonly resolve: (invalidated: boolean) => void;
}

const rowOf = (event: ChangeEvent) => `${event.table}:${(event.new ?? event.old)?.id}`;

/** The same kind of change (both sides present or absent alike) with the same reported key columns. */
function sameChange(a: ChangeEvent, b: ChangeEvent): boolean {
  if (a.table !== b.table) return false;
  const same = (x: object | null, y: object | null) => (x === null || y === null ? x === y :
    CHANGE_COLUMNS[a.table].every((column) => (x as Record<string, unknown>)[column] === (y as Record<string, unknown>)[column]));
  return same(a.old, b.old) && same(a.new, b.new);
}

const IGNORED: OwnCommit = { settle() {} };

export function createOwnCommits(): OwnCommits {
  const pending = new Map<string, Pending>();
  let listening = false;
  return {
    listening: () => listening,
    expect(event) {
      if (!listening) return IGNORED;
      let resolve!: (invalidated: boolean) => void;
      const outcome = new Promise<boolean>((r) => { resolve = r; });
      const row = rowOf(event);
      const record: Pending = { event, outcome, resolve };
      // A second change of the row before the first's notification: the first notification will
      // not match this record, which is then dropped — the feed invalidates both.
      pending.set(row, record);
      return {
        settle(invalidated) {
          if (!invalidated && pending.get(row) === record) pending.delete(row);
          resolve(invalidated);
        },
      };
    },
    async covers(event) {
      const row = rowOf(event);
      const record = pending.get(row);
      if (!record) return false;
      pending.delete(row);
      if (!sameChange(record.event, event)) return false;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), SETTLE_WAIT_MS); });
      try {
        return await Promise.race([record.outcome, timedOut]);
      } finally {
        clearTimeout(timer);
      }
    },
    setListening(now) {
      listening = now;
      for (const record of pending.values()) record.resolve(false);
      pending.clear();
    },
    size: () => pending.size,
  };
}
