import { createHash } from 'node:crypto';
import { createClient } from '@redis/client';
import { backoff, CONNECT_TIMEOUT_MS } from './redis-client.ts';

/**
 * A second connection, for the commands a request makes: a cache hit's MGET of a remembered answer
 * with what it depends on (response-store.ts), the loaders' lookups and fills, the response
 * cache's scripted lookups and saves, invalidations (redis-store.ts, through redis-commands.ts).
 * Served by `@redis/client` (node-redis), not ioredis, because those commands are the server's
 * round trips and node-redis spends about half the CPU on each: measured on this project's VM, 24
 * concurrent loops, an MGET of 35 keys, 8–12 µs of process CPU per command against 19–33 µs for
 * ioredis with the settings the cache needs (commandTimeout, auto-pipelining); an EVALSHA, 6.5
 * against 17 µs. While it is not ready, and for what it does not carry — pub/sub, the epoch,
 * counters, a Redis Cluster — the ioredis connection serves.
 *
 * Fail-fast like that connection: no offline queue (a command while disconnected fails at once),
 * a capped reconnection backoff, and a bound on how long an answer may take. Not a timer per
 * command: node-redis' own per-command timeout (an AbortSignal timer each) doubled the command's
 * cost, and a deadline shared through Promise.race added 40%. Redis answers one connection's
 * commands in order, so "no answer for `timeoutMs` while commands are outstanding" is exactly a
 * command waiting too long: a watchdog checks that every WATCHDOG_MS, and then drops the
 * connection — its commands fail (callers degrade as for any Redis failure) — and opens a new one.
 */
export interface FastConnection {
  /** Values of `keys`, in order. Rejects when disconnected, or when Redis stopped answering. */
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  /** Runs a Lua script (EVALSHA; EVAL once when Redis does not know it yet). Rejects like mget. */
  script(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /** Any other command, e.g. ['SET', key, value, 'EX', 60]. Rejects like mget, and with Redis's error. */
  command(args: readonly (string | number)[]): Promise<unknown>;
  /** Connected and ready: when false, the caller uses its other connection. */
  ready(): boolean;
  close(): Promise<void>;
}

/** A Lua script and its SHA-1, as EVALSHA names it. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

export function luaScript(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** How often the watchdog looks: a stalled command fails within `timeoutMs` + this. */
const WATCHDOG_MS = 25;

export interface FastConnectionOptions {
  /** How long Redis may go without answering while commands wait (the ioredis connection's commandTimeout). */
  readonly timeoutMs: number;
  /** Told when the watchdog dropped a connection that stopped answering. */
  readonly onStall?: () => void;
}

/** `url`: a single Redis (redis:// or rediss://); clusters keep to ioredis. */
export function createFastConnection(url: string, options: FastConnectionOptions): FastConnection {
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

  /** Sends one command, counted for the watchdog. */
  function watched<T>(send: (on: typeof client) => Promise<T>): Promise<T> {
    if (outstanding === 0) owedSince = performance.now();
    outstanding++;
    const sentOn = client;
    const answered = () => {
      if (client !== sentOn) return; // a dropped connection's late news
      outstanding--;
      owedSince = performance.now();
    };
    const reply = send(sentOn);
    reply.then(answered, answered);
    return reply;
  }

  const send = (args: readonly (string | number)[]) => watched((on) => on.sendCommand(args.map(String)));

  return {
    mget: (keys) => watched((on) => on.mGet(keys as string[]) as Promise<(string | null)[]>),
    async script({ lua, sha }, keys, args) {
      const rest = [keys.length, ...keys, ...args];
      try {
        return await send(['EVALSHA', sha, ...rest]);
      } catch (error) {
        // First use since Redis started (or SCRIPT FLUSH): EVAL loads it, later calls find it.
        if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
        return send(['EVAL', lua, ...rest]);
      }
    },
    command: send,
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
