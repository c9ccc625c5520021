import calculateSlot from 'cluster-key-slot';
import type { ChainableCommander } from 'ioredis';
import type { FastConnection, LuaScript } from './fast-connection.ts';
import type { RedisClient } from './redis-client.ts';

/**
 * One command of a batch: `name(...keys, ...args)`. Every key of a command must hash to one slot,
 * except for DEL, which a cluster batch splits per slot (its result is then the summed count).
 * A command without keys (PUBLISH) runs, on a cluster, after every slot's part has run.
 */
export interface RedisCommand {
  readonly name: string;
  readonly keys: readonly string[];
  readonly args?: readonly (string | number)[];
}

/** How the store's multi-key work reaches Redis: the only place that knows whether it is a cluster. */
export interface RedisCommands {
  /** Values of `keys`, in order. */
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  /** Runs `commands` and answers their results in order; rejects if any command failed. */
  batch(commands: readonly RedisCommand[]): Promise<unknown[]>;
  /** One command or script: `batch` of one. */
  run(command: RedisCommand): Promise<unknown>;
}

/**
 * The fast connection (fast-connection.ts) and the scripts the commands may name: createRedisCommands
 * defines each on the ioredis connection too, under the same name, its key count passed first.
 */
export interface FastRoute {
  readonly connection: FastConnection | null | undefined;
  readonly scripts?: Readonly<Record<string, LuaScript>>;
}

/**
 * Single Redis: one MGET; a batch's commands sent in the order given, auto-pipelined (the client
 * is created with enableAutoPipelining) — one round trip each, shared with concurrent requests'.
 * With a FastRoute whose connection is ready, the same commands go there instead (node-redis
 * queues a turn's commands into one write too), each batch all on one connection.
 *
 * Cluster: a command may only name keys of one slot, so the work is grouped per slot — an MGET per
 * slot, a pipeline per slot — and all groups are sent at once (auto-pipelining turns the groups
 * bound for one node into one write), so a batch costs one round trip per node, concurrently.
 * Order is kept *within* a slot (a pipeline runs its commands in order on one connection), which
 * is the only order the store relies on: the keyspace gives each entity's value, tombstone and
 * lease one slot, so "tombstone before DEL" holds per entity exactly as in one pipeline. Across
 * slots there is no order, and none was promised: a single pipeline is not atomic either, other
 * clients' commands interleave with it. A slot that moves mid-batch fails its commands (MOVED),
 * the batch rejects, and the caller degrades as for any failure (miss, dropped fill, or — for an
 * invalidation — an epoch bump).
 */
export function createRedisCommands(redis: RedisClient, fast: FastRoute = { connection: null }): RedisCommands {
  for (const [name, { lua }] of Object.entries(fast.scripts ?? {})) redis.defineCommand(name, { lua });
  const commands = multiKeyCommands(redis, fast);
  return { ...commands, run: async (command) => (await commands.batch([command]))[0] };
}

function multiKeyCommands(redis: RedisClient, fast: FastRoute): Omit<RedisCommands, 'run'> {
  const scripts = fast.scripts ?? {};
  const variadic = new Set(Object.keys(scripts));
  if (!redis.isCluster) {
    const onIoredis = (command: RedisCommand) => send(redis, command, variadic) as Promise<unknown>;
    // On the fast connection while it is up (it costs the process about half the CPU per command,
    // see fast-connection.ts); ioredis otherwise. A batch goes all one way: its order is kept.
    const onFast = (connection: FastConnection, { name, keys, args = [] }: RedisCommand) => {
      const script = scripts[name];
      return script ? connection.script(script, keys, args) : connection.command([name, ...keys, ...args]);
    };
    const ready = () => (fast.connection?.ready() ? fast.connection : null);
    return {
      mget: (keys) => ready()?.mget(keys) ?? redis.mget(...keys),
      // Each command on its own: both connections queue them, in this order, with every other
      // command this process sends in the same turn of the event loop — one write for all of them,
      // where an explicit pipeline would be a write (and a Pipeline) of its own.
      batch(commands) {
        const connection = ready();
        return Promise.all(commands.map((command) => (connection ? onFast(connection, command) : onIoredis(command))));
      },
    };
  }
  return {
    async mget(keys) {
      const groups = groupBySlot(keys.map((key, index) => ({ index, key })), (item) => item.key);
      const values: (string | null)[] = new Array(keys.length).fill(null);
      await Promise.all([...groups.values()].map(async (items) => {
        const found = await redis.mget(...items.map((item) => item.key));
        items.forEach((item, i) => { values[item.index] = found[i] ?? null; });
      }));
      return values;
    },
    async batch(commands) {
      // DEL of keys in several slots becomes one DEL per slot, each in its slot's place in order.
      const parts = commands.flatMap((command, index) => command.name === 'del'
        ? [...groupBySlot(command.keys, (key) => key).values()].map((keys) => ({ index, command: { ...command, keys } }))
        : [{ index, command }]);
      const keyless = parts.filter((part) => part.command.keys.length === 0);
      const groups = groupBySlot(parts.filter((part) => part.command.keys.length > 0), (part) => slotKey(part.command));
      const results: unknown[] = new Array(commands.length).fill(null);
      await Promise.all([...groups.values()].map(async (group) => {
        const values = await exec(fill(redis.pipeline(), group.map((part) => part.command), variadic));
        group.forEach((part, i) => {
          const value = values[i];
          results[part.index] = part.command.name === 'del' ? Number(results[part.index] ?? 0) + Number(value) : value;
        });
      }));
      if (keyless.length > 0) {
        const values = await exec(fill(redis.pipeline(), keyless.map((part) => part.command), variadic));
        keyless.forEach((part, k) => { results[part.index] = values[k]; });
      }
      return results;
    },
  };
}

/**
 * Calls `name(...keys, ...args)` on a connection (its promise) or on a pipeline (queued); a
 * `variadic` script takes its key count first.
 */
function send(target: RedisClient | ChainableCommander, { name, keys, args = [] }: RedisCommand, variadic?: ReadonlySet<string>): unknown {
  const call = (target as unknown as Record<string, (...a: (string | number)[]) => unknown>)[name]!;
  return variadic?.has(name) ? call.call(target, keys.length, ...keys, ...args) : call.call(target, ...keys, ...args);
}

function fill(pipeline: ChainableCommander, commands: readonly RedisCommand[], variadic: ReadonlySet<string>): ChainableCommander {
  for (const command of commands) send(pipeline, command, variadic);
  return pipeline;
}

async function exec(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  const failed = results.find(([error]) => error);
  if (failed) throw failed[0];
  return results.map(([, value]) => value);
}

/** The key deciding a command's slot; a command whose keys disagree is a keyspace bug, not a runtime case. */
function slotKey(command: RedisCommand): string {
  const [first, ...rest] = command.keys;
  if (first === undefined) throw new TypeError(`Redis command ${command.name} names no key`);
  const slot = calculateSlot(first);
  if (rest.some((key) => calculateSlot(key) !== slot)) {
    throw new TypeError(`Redis command ${command.name} names keys of several slots: ${command.keys.join(' ')}`);
  }
  return first;
}

/** Groups items by the slot of their key, keeping their order within each group. */
function groupBySlot<T>(items: readonly T[], keyOf: (item: T) => string): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const slot = calculateSlot(keyOf(item));
    const group = groups.get(slot);
    if (group) group.push(item);
    else groups.set(slot, [item]);
  }
  return groups;
}
