import { createClient } from '@redis/client';
import { backoff, CONNECT_TIMEOUT_MS } from './redis-client.ts';

/**
 * A second connection for the one command a cache hit costs: the whole-response cache's MGET of a
 * remembered answer with what it depends on (response-store.ts). Served by `@redis/client`
 * (node-redis), not ioredis, because that command is most of a warm server's round trips and
 * node-redis spends about half the CPU on it: measured on this project's VM, 24 concurrent loops,
 * an MGET of 35 keys, 8–12 µs of process CPU per command against 19–33 µs for ioredis with the
 * settings the rest of the cache needs (commandTimeout, auto-pipelining). Everything else —
 * scripts, fills, invalidations, pub/sub, a cluster — stays on the ioredis connection.
 *
 * Fail-fast like that connection: no offline queue (a command while disconnected fails at once),
 * a capped reconnection backoff, and a bound on how long an answer may take. Not a timer per
 * command: node-redis' own per-command timeout (an AbortSignal timer each) doubled the command's
 * cost, and a deadline shared through Promise.race added 40%. Redis answers one connection's
 * commands in order, so "no answer for `timeoutMs` while commands are outstanding" is exactly a
 * command waiting too long: a watchdog checks that every WATCHDOG_MS, and then drops the
 * connection — its commands fail (callers degrade as for any Redis failure) — and opens a new one.
 */
export interface FastReads {
  /** Values of `keys`, in order. Rejects when disconnected, or when Redis stopped answering. */
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  /** Connected and ready: when false, the caller uses its other connection. */
  ready(): boolean;
  close(): Promise<void>;
}

/** How often the watchdog looks: a stalled command fails within `timeoutMs` + this. */
const WATCHDOG_MS = 25;

export interface FastReadsOptions {
  /** How long Redis may go without answering while commands wait (the ioredis connection's commandTimeout). */
  readonly timeoutMs: number;
  /** Told when the watchdog dropped a connection that stopped answering. */
  readonly onStall?: () => void;
}

/** `url`: a single Redis (redis:// or rediss://); clusters keep to ioredis. */
export function createFastReads(url: string, options: FastReadsOptions): FastReads {
  const open = () => {
    const created = createClient({
      url,
      disableOfflineQueue: true,
      // Bounded, so that a Redis that stopped answering cannot make the queue grow without end.
      commandsQueueMaxLength: 10_000,
      socket: {
        connectTimeout: CONNECT_TIMEOUT_MS,
        noDelay: true,
        reconnectStrategy: backoff, // as the ioredis connection's
      },
    });
    created.on('error', () => {}); // failures surface per command; reconnection continues by itself
    created.connect().catch(() => {}); // in the background: until ready, callers use ioredis
    return created;
  };

  let client = open();
  let closed = false;
  // Per connection: commands sent and not yet answered, and since when Redis has owed an answer
  // (the last answer, or the moment the first outstanding command was sent after none was).
  let outstanding = 0;
  let owedSince = 0;

  const watchdog = setInterval(() => {
    if (outstanding === 0 || performance.now() - owedSince <= options.timeoutMs) return;
    const stalled = client;
    outstanding = 0;
    client = open();
    stalled.destroy(); // rejects its outstanding commands
    options.onStall?.();
  }, WATCHDOG_MS);
  watchdog.unref();

  return {
    mget(keys) {
      const now = performance.now();
      if (outstanding === 0) owedSince = now;
      outstanding++;
      const sentOn = client;
      const answered = () => {
        if (client !== sentOn) return; // a dropped connection's late news
        outstanding--;
        owedSince = performance.now();
      };
      const reply = client.mGet(keys as string[]) as Promise<(string | null)[]>;
      reply.then(answered, answered);
      return reply;
    },
    ready: () => !closed && client.isReady,
    async close() {
      closed = true;
      clearInterval(watchdog);
      if (!client.isOpen) return;
      try {
        await client.close();
      } catch {
        client.destroy();
      }
    },
  };
}
