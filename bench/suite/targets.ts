/**
 * The three servers the suite measures, behind one interface:
 *
 *   ours      this server, cache on  (createApp, cacheEnabled: true; Redis keys under the run's prefix):
 *             the whole-response cache in front of the read-through loaders
 *   oursTier  the same with the in-process tier on (LOCAL_CACHE_MAX=TIER_ENTRIES): whole answers and
 *             entities also held in the server's memory, coherent through invalidation messages
 *   loadersOnly this server, cache on but no whole-response cache (RESPONSE_CACHE=false): every query
 *             runs its resolvers, which read through the loaders' Redis cache
 *   cacheOff  this server, cache off (createApp, cacheEnabled: false: no Redis, every read from SQL)
 *   apollo    Apollo Server 5 + @apollo/server-plugin-response-cache on Redis (apollo-baseline.ts)
 *
 * `startTarget` runs one in this process (the smoke test does); `spawnTarget` runs it in a child
 * process (target-host.ts) and talks to it over IPC, so that the load generator and the server do not
 * share an event loop (the full run does). Each target counts the SQL statements it sends (the ORM's
 * onQuery hook) and the Redis round trips of its cache.
 */
import { spawn } from 'node:child_process';
import { hash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createApp } from '../../src/server/app.ts';
import { DEFAULT_LIMITS } from '../../src/server/query-limits.ts';
import { countLookup, createApolloBaseline } from './apollo-baseline.ts';
import { createProfiler, type SelfTime } from './cpu-profile.ts';
import { Q1_QUERY, Q2_QUERY } from './workload.ts';

/** The suite's queries by their text's SHA-256 (what our response cache names them by). */
const QUERY_NAMES = new Map([[hash('sha256', Q1_QUERY, 'hex'), 'Q1'], [hash('sha256', Q2_QUERY, 'hex'), 'Q2']]);

export const TARGET_KINDS = ['ours', 'oursTier', 'loadersOnly', 'cacheOff', 'apollo'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** LOCAL_CACHE_MAX of `oursTier`: more than the suite's books and pages, so the tier's own LRU never decides. */
export const TIER_ENTRIES = 50_000;

export const TARGET_LABELS: Record<TargetKind, string> = {
  ours: '(a) ours, cache on',
  oursTier: '(a+) ours, cache on + in-process tier',
  loadersOnly: '(a′) ours, loaders only (no response cache)',
  cacheOff: '(b) ours, cache off',
  apollo: '(c) Apollo response cache',
};

export interface TargetConfig {
  readonly kind: TargetKind;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** Prefix (ours) or Keyv namespace (apollo) of every Redis key the target writes. */
  readonly prefix: string;
  /** ours only: entries of the in-process tier (LOCAL_CACHE_MAX; absent or 0: none). */
  readonly localCacheMax?: number;
}

export interface TargetCounters {
  /** SQL statements other than transaction control (begin, commit, rollback, savepoints). */
  statements: number;
  transactionControl: number;
  /** Our cache's Redis round trips (ours), or the response cache's gets + sets (apollo). */
  redisRoundTrips: number;
  /** A response cache (ours or Apollo's): queries answered from it / not. */
  responseCacheHits: number;
  responseCacheMisses: number;
  /**
   * Response-cache lookups by query and result, `<Q1|Q2|other>:<result>`: ours `hit`, `absent` (never
   * built, or expired), `invalidated` (a write changed what it was built from: rebuilt), Apollo's
   * `hit` or `miss`. Where a target's reads go past its cache, and why.
   */
  lookups: Record<string, number>;
  /** CPU time of the target's process (user + system, µs): its own cost when it runs in its own process. */
  cpuMicros: number;
}

export interface Target {
  readonly kind: TargetKind;
  readonly url: string;
  counters(): Promise<TargetCounters>;
  /**
   * Starts V8's CPU profiler in the target's process, or stops it and answers the self time per
   * part since the start (cpu-profile.ts). In process (`startTarget`), the profile is of the whole
   * process, load generator included.
   */
  profile(action: 'start'): Promise<void>;
  profile(action: 'stop'): Promise<SelfTime>;
  close(): Promise<void>;
}

/** Target.profile over a profiler of this process. */
function profileThisProcess(): { profile: Target['profile']; closeProfiler(): void } {
  const profiler = createProfiler();
  const profile = ((action: 'start' | 'stop') => (action === 'start' ? profiler.start() : profiler.stop())) as Target['profile'];
  return { profile, closeProfiler: () => profiler.close() };
}

const TRANSACTION_CONTROL = /^\s*(begin|start transaction|commit|rollback|savepoint|release)/i;

/** Starts a target in this process. */
export async function startTarget(config: TargetConfig): Promise<Target> {
  const counters: TargetCounters = { statements: 0, transactionControl: 0, redisRoundTrips: 0, responseCacheHits: 0, responseCacheMisses: 0, lookups: {}, cpuMicros: 0 };
  const cpu = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  const onQuery = (sql: string) => {
    if (TRANSACTION_CONTROL.test(sql)) counters.transactionControl++;
    else counters.statements++;
  };
  const { profile, closeProfiler } = profileThisProcess();
  if (config.kind === 'apollo') {
    const baseline = await createApolloBaseline({ databaseUrl: config.databaseUrl, redisUrl: config.redisUrl, namespace: config.prefix, onQuery });
    const url = await baseline.listen(0);
    return {
      kind: config.kind, url, profile,
      async counters() {
        const rc = baseline.responseCache;
        return { ...counters, redisRoundTrips: rc.gets + rc.sets, responseCacheHits: rc.hits, responseCacheMisses: rc.misses, lookups: { ...rc.byOperation }, cpuMicros: cpu() };
      },
      close: () => { closeProfiler(); return baseline.close(); },
    };
  }
  const app = await createApp(
    {
      port: 0, host: '127.0.0.1', databaseUrl: config.databaseUrl, redisUrl: config.redisUrl, cachePrefix: config.prefix,
      cacheEnabled: config.kind !== 'cacheOff', responseCache: config.kind === 'ours' || config.kind === 'oursTier', cacheLeases: true,
      seedDemo: false, logLevel: 'warn', introspection: false, limits: DEFAULT_LIMITS, maxBodyBytes: 1_000_000, development: false,
      localCacheMax: config.kind === 'oursTier' ? TIER_ENTRIES : config.localCacheMax ?? 0,
    },
    {
      onQuery,
      store: { roundTrip: () => { counters.redisRoundTrips++; } },
      responseCache: {
        lookup(result, queryHash) {
          if (result === 'hit') counters.responseCacheHits++;
          else counters.responseCacheMisses++;
          countLookup(counters.lookups, QUERY_NAMES.get(queryHash) ?? 'other', result);
        },
      },
    },
  );
  const url = await app.listen(0);
  return {
    kind: config.kind, url, profile,
    counters: async () => ({ ...counters, lookups: { ...counters.lookups }, cpuMicros: cpu() }),
    close: () => { closeProfiler(); return app.close(); },
  };
}

// --- The same target in a child process ------------------------------------------------------------

export type HostRequest =
  | { type: 'start'; config: TargetConfig }
  | { type: 'counters'; id: number }
  | { type: 'profile'; id: number; action: 'start' | 'stop' }
  | { type: 'close' };
export type HostReply =
  | { type: 'ready'; url: string }
  | { type: 'failed'; error: string }
  | { type: 'counters'; id: number; counters: TargetCounters }
  | { type: 'profile'; id: number; selfTime: SelfTime }
  | { type: 'closed' };

const HOST = fileURLToPath(new URL('./target-host.ts', import.meta.url));

/** Starts a target in its own Node process (target-host.ts); resolves when it listens. */
export async function spawnTarget(config: TargetConfig): Promise<Target> {
  // BENCH_TARGET_NODE_OPTIONS reaches the target only (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
  const child = spawn(process.execPath, [HOST], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_OPTIONS: process.env.BENCH_TARGET_NODE_OPTIONS ?? '' } });
  // Requests waiting for their reply, by id (counters and profiles).
  const waiting = new Map<number, (reply: HostReply) => void>();
  let nextId = 0;
  let closed: (() => void) | null = null;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    child.on('message', (message: HostReply) => {
      if (message.type === 'ready') resolve(message.url);
      else if (message.type === 'failed') reject(new Error(`target ${config.kind} failed to start: ${message.error}`));
      else if (message.type === 'counters' || message.type === 'profile') waiting.get(message.id)?.(message);
      else if (message.type === 'closed') closed?.();
    });
    void exited.then((code) => reject(new Error(`target ${config.kind} exited with ${code} before it listened`)));
    child.send({ type: 'start', config } satisfies HostRequest);
  });

  /** Sends a request and resolves with its reply. */
  const ask = (request: { type: 'counters' } | { type: 'profile'; action: 'start' | 'stop' }) => {
    const id = nextId++;
    return new Promise<HostReply>((resolve, reject) => {
      waiting.set(id, (reply) => {
        waiting.delete(id);
        resolve(reply);
      });
      child.send({ ...request, id } satisfies HostRequest, (error) => { if (error) reject(error); });
    });
  };

  return {
    kind: config.kind, url,
    counters: async () => ((await ask({ type: 'counters' })) as Extract<HostReply, { type: 'counters' }>).counters,
    profile: (async (action: 'start' | 'stop') => {
      const reply = (await ask({ type: 'profile', action })) as Extract<HostReply, { type: 'profile' }>;
      if (action === 'stop') return reply.selfTime;
    }) as Target['profile'],
    async close() {
      if (child.exitCode !== null) return;
      const done = new Promise<void>((resolve) => { closed = resolve; });
      child.send({ type: 'close' } satisfies HostRequest);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await Promise.race([done, exited]);
      await exited;
      clearTimeout(timer);
    },
  };
}
