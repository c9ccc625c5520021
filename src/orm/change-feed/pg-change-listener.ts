import { randomUUID } from 'node:crypto';
import { Client, type Notification } from 'pg';
import type { Epoch } from '../../cache/epoch.ts';
import type { Invalidator } from '../../cache/invalidator.ts';
import { feedAliveKey, type Keyspace } from '../../cache/keyspace.ts';
import type { RedisClient } from '../../cache/redis-client.ts';
import { CHANGE_CHANNEL, type ChangeFeed } from './change-feed.ts';
import { evictionsForChanges, toChangeEvent, type ChangeEvent } from './change-events.ts';
import { createOwnCommits } from './own-commits.ts';

export interface PgChangeListenerObserver {
  /**
   * One notification's events were handed to the invalidator (a failure to reach Redis is reported
   * by the invalidator's own observer). `delayMs`: from the trigger's clock_timestamp() to now —
   * comparable only while the database's clock and this host's agree.
   */
  applied?(events: readonly ChangeEvent[], delayMs: number): void;
  /** Listening (again). `bumped`: the epoch was bumped because notifications may have been missed. */
  connected?(info: { readonly pid: number; readonly reconnect: boolean; readonly bumped: boolean }): void;
  /** The connection was lost; reconnection follows with a capped backoff. */
  disconnected?(error: unknown): void;
  /** A notification that could not be read, or an epoch bump that failed (retried every second). */
  error?(error: unknown): void;
}

export interface PgChangeListenerOptions {
  readonly connectionString: string;
  readonly invalidator: Invalidator;
  readonly epoch: Epoch;
  /** With `redis`: where the listeners' heartbeat lives. Without either, every first connect bumps the epoch. */
  readonly keyspace?: Keyspace;
  readonly redis?: RedisClient | null;
  readonly observer?: PgChangeListenerObserver;
  /** First reconnection delay (doubled on each failure up to `maxReconnectDelayMs`). */
  readonly reconnectDelayMs?: number;
  readonly maxReconnectDelayMs?: number;
}


/** Heartbeat period; the key lives 3 periods, so one missed refresh does not declare the listener dead. */
const HEARTBEAT_MS = 1000;
const ALIVE_TTL_MS = 3 * HEARTBEAT_MS;
/** How the listener's own sessions are recognised in pg_stat_activity. */
const APPLICATION_NAME = 'catalog-change-feed';

type Item = { readonly events: readonly ChangeEvent[]; readonly at: number; readonly truncate: boolean } | { readonly sync: string };

/**
 * LISTENs on `catalog_changes` (published by the triggers of the change_feed migration) on a
 * dedicated connection and turns every notification into evictions, applied after the writer's
 * commit (PostgreSQL delivers NOTIFY only then). Notifications that arrive while an apply is in
 * flight are merged into the next one, so a burst costs a few pipelines, not one per row.
 *
 * Lost notifications are repaired with the epoch (one INCR retires the whole cache):
 *   - after every RE-connect: whatever was committed while disconnected was never delivered;
 *   - on the FIRST connect, unless another listener is watching right now. While connected, each
 *     listener refreshes `<prefix>:feed:alive` (SET PX 3000, every second) with its backend pid;
 *     a newcomer that finds the key and sees that backend alive in pg_stat_activity knows every
 *     change up to now was handled. A missing key, or a dead pid (a crashed process whose key has
 *     not expired yet), means changes may have gone unseen: bump.
 * A dead connection is noticed by 'error'/'end', and by a `SELECT 1` every second (a half-open TCP
 * connection raises nothing by itself).
 */
export async function startPgChangeListener(options: PgChangeListenerOptions): Promise<ChangeFeed> {
  const { connectionString, invalidator, epoch, observer = {} } = options;
  if (typeof connectionString !== 'string' || !/^postgres(ql)?:\/\//i.test(connectionString)) {
    throw new TypeError(`startPgChangeListener: connectionString must be a postgres:// URL, got ${JSON.stringify(connectionString)}`);
  }
  const heartbeat = options.redis && options.keyspace ? { redis: options.redis, key: feedAliveKey(options.keyspace.prefix) } : null;
  const firstDelay = options.reconnectDelayMs ?? 100;
  const maxDelay = options.maxReconnectDelayMs ?? 5000;

  let client: Client | null = null;
  let pid = 0;
  let stopped = false;
  let everConnected = false;
  let bumpOwed = false;
  let delay = firstDelay;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let pending: Item[] = [];
  let draining: Promise<void> | null = null;
  const syncWaiters = new Map<string, () => void>();
  const ownCommits = createOwnCommits();

  function onNotification(message: Notification): void {
    if (message.channel !== CHANGE_CHANNEL || message.payload === undefined) return;
    try {
      pending.push(parseNotification(message.payload));
    } catch (error) {
      observer.error?.(error);
      return;
    }
    draining ??= drain().finally(() => { draining = null; });
  }

  /** One apply at a time; everything that arrived meanwhile leaves together in the next one. */
  async function drain(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve)); // gather the rest of this burst
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      const changes = batch.filter((item) => 'events' in item);
      if (changes.length > 0) {
        // Duplicates tolerated: a mutation of this (or another) server already evicted the same
        // keys after its commit. Evicting again is harmless, and repeats the eviction after any
        // fill that raced the first one.
        // A row change this process committed and has invalidated itself is not invalidated again
        // (own-commits.ts): that would delete the row its writer filled. Everything else is.
        const events: ChangeEvent[] = [];
        for (const event of changes.flatMap((item) => item.events)) {
          if (await ownCommits.covers(event)) continue;
          events.push(event);
        }
        if (events.length > 0) await invalidator.apply(evictionsForChanges(events));
        if (changes.some((item) => item.truncate)) await bumpEpoch(); // TRUNCATE names no rows
        const now = Date.now();
        for (const item of changes) observer.applied?.(item.events, now - item.at);
      }
      for (const item of batch) if ('sync' in item) syncWaiters.get(item.sync)?.();
    }
  }

  async function bumpEpoch(): Promise<boolean> {
    try {
      await epoch.bump();
      bumpOwed = false;
      return true;
    } catch (error) {
      bumpOwed = true; // Redis unreachable: its cached data returns with it, so keep trying
      observer.error?.(error);
      return false;
    }
  }

  async function connect(): Promise<void> {
    const candidate = new Client({ connectionString, application_name: APPLICATION_NAME, keepAlive: true, query_timeout: 5000 });
    let dead = false;
    const lose = (error?: unknown) => {
      if (dead) return;
      dead = true;
      candidate.end().catch(() => {});
      if (client !== candidate) return; // failed while connecting: the caller reschedules
      client = null;
      ownCommits.setListening(false);
      clearInterval(heartbeatTimer);
      if (stopped) return;
      observer.disconnected?.(error);
      scheduleReconnect();
    };
    candidate.on('error', lose);
    candidate.on('end', () => lose(new Error('change feed connection ended')));
    candidate.on('notification', onNotification);
    try {
      await candidate.connect();
      await candidate.query(`LISTEN ${CHANGE_CHANNEL}`);
      const [row] = (await candidate.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
      if (stopped || dead) throw new Error('change feed stopped while connecting');
      pid = row!.pid;
    } catch (error) {
      lose(error);
      throw error;
    }
    client = candidate;
    delay = firstDelay;
    ownCommits.setListening(true);
    // Listening from here on; what committed before is covered by another listener or by the bump.
    const reconnect = everConnected;
    everConnected = true;
    let bumped = false;
    if (reconnect || bumpOwed || !(await anotherListenerAlive(candidate))) bumped = await bumpEpoch();
    await beat(candidate);
    if (client !== candidate) return; // stopped or lost meanwhile
    heartbeatTimer = setInterval(() => void beat(candidate), HEARTBEAT_MS);
    heartbeatTimer.unref();
    observer.connected?.({ pid, reconnect, bumped });
  }

  async function anotherListenerAlive(own: Client): Promise<boolean> {
    if (!heartbeat) return false;
    try {
      const holder = Number(await heartbeat.redis.get(heartbeat.key));
      if (!Number.isSafeInteger(holder) || holder <= 0 || holder === pid) return false;
      const { rows } = await own.query(
        'SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND datname = current_database() AND application_name = $2',
        [holder, APPLICATION_NAME],
      );
      return rows.length > 0;
    } catch {
      return false; // cannot tell: assume the worst, which only costs a cold cache
    }
  }

  /** Proves the connection alive, then tells newcomers so; repays an epoch bump Redis refused. */
  async function beat(own: Client): Promise<void> {
    try {
      await own.query('SELECT 1');
    } catch (error) {
      own.emit('error', error); // → lose(): reconnect, and bump then
      return;
    }
    if (bumpOwed) await bumpEpoch();
    await heartbeat?.redis.set(heartbeat.key, String(pid), 'PX', ALIVE_TTL_MS).catch(() => {});
  }

  function scheduleReconnect(): void {
    if (stopped) return;
    reconnectTimer = setTimeout(() => {
      connect().catch(() => {
        delay = Math.min(delay * 2, maxDelay);
        scheduleReconnect();
      });
    }, delay);
    reconnectTimer.unref();
  }

  try {
    await connect();
  } catch (error) {
    // The database is unreachable for now: keep trying in the background (and bump once in).
    observer.disconnected?.(error);
    scheduleReconnect();
  }

  return {
    ownCommits,
    async settled() {
      const own = client;
      if (own) {
        // Notifications are delivered in commit order: once our own marker arrives, every change
        // committed before this call has arrived too.
        const token = randomUUID();
        const seen = new Promise<void>((resolve) => syncWaiters.set(token, resolve));
        try {
          await own.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, JSON.stringify({ sync: token })]);
          await Promise.race([seen, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
        } catch {
          // Disconnected meanwhile: the reconnect's epoch bump covers what was missed.
        } finally {
          syncWaiters.delete(token);
        }
      }
      while (draining) await draining;
    },

    async stop() {
      stopped = true;
      ownCommits.setListening(false);
      clearTimeout(reconnectTimer);
      clearInterval(heartbeatTimer);
      const own = client;
      client = null;
      if (own) {
        try {
          await own.query(`UNLISTEN ${CHANGE_CHANNEL}`);
        } catch {
          // The connection is going away anyway.
        }
        await own.end().catch(() => {});
        // Leave the heartbeat to a listener still running; a newcomer would see our pid dead anyway.
        if (heartbeat && (await heartbeat.redis.get(heartbeat.key).catch(() => null)) === String(pid)) {
          await heartbeat.redis.del(heartbeat.key).catch(() => {});
        }
      }
      while (draining) await draining;
    },
  };
}

/** Reads one payload of the triggers (or one of our own sync markers). Throws a TypeError when malformed. */
export function parseNotification(payload: string): Item {
  let message: unknown;
  try {
    message = JSON.parse(payload);
  } catch {
    throw new TypeError(`change notification: payload must be JSON, got ${JSON.stringify(payload.slice(0, 200))}`);
  }
  const { sync, table, op, at, rows } = (message ?? {}) as Record<string, unknown>;
  if (typeof sync === 'string') return { sync };
  if (typeof at !== 'number' || !Array.isArray(rows) || typeof op !== 'string') {
    throw new TypeError(`change notification: expected {table, op, at, rows}, got ${JSON.stringify(payload.slice(0, 200))}`);
  }
  const events = rows.map((pair: unknown) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError(`change notification: a row must be [old, new], got ${JSON.stringify(pair)}`);
    return toChangeEvent(table, pair[0], pair[1]);
  });
  return { events, at, truncate: op === 'TRUNCATE' };
}
