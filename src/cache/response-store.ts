import type { Dependencies } from './dependencies.ts';
import { checkOf, checkPasses, createKnownAnswers, knownFromHeader, newBuildId, type AnswerHeader, type KnownAnswer } from './known-answers.ts';
import { luaScript, type FastConnection } from './fast-connection.ts';
import { MGET_ALL_LUA } from './mget-all-lua.ts';
import { createRedisCommands } from './redis-commands.ts';
import type { RedisClient } from './redis-client.ts';
import { CHECKED_MAX_TTL_SECONDS } from './lifetimes.ts';
import { timedRoundTrip } from './round-trip.ts';
import type { StoreObserver } from './store-observer.ts';

/** A stored response lives at most this long, whatever its cache policy says (see lifetimes.ts). */
export const RESPONSE_MAX_TTL_SECONDS = CHECKED_MAX_TTL_SECONDS;

export interface StoredResponse {
  /** The serialized GraphQL response, exactly as sent the first time. */
  readonly body: string;
  readonly maxAge: number;
  readonly scope: 'PUBLIC' | 'PRIVATE';
  /** Epoch milliseconds when it was stored. */
  readonly storedAt: number;
  /**
   * Epoch milliseconds when the store drops it; absent: `storedAt + maxAge` (an answer may be kept
   * past its maxAge, see response-cache.ts's retentionSeconds). An in-process copy never outlives it.
   */
  readonly expiresAt?: number;
}

export type ResponseLookup =
  | {
    readonly kind: 'hit'; readonly key: string; readonly response: StoredResponse;
    /**
     * Asked for with `withDependencies`: every key whose change makes the answer stale (tombstones
     * and generations, as invalidation messages name them, see announcedKeys).
     */
    readonly dependencies?: readonly string[];
  }
  /** absent: nothing stored; invalidated: something it was built from has changed (it is deleted). */
  | {
    readonly kind: 'absent' | 'invalidated' | 'unavailable';
    /**
     * invalidated: what the stale answer was built from, as it is now (read in the lookup's own
     * atomic script): the clock, and the keys its loaders read, their tombstones and generations —
     * key → value (null: absent). A rebuild's loaders may take these as their own lookups' answers
     * (key-reader.ts): as if they had all read them at that instant, before anything else.
     */
    readonly snapshot?: ReadonlyMap<string, string | null>;
    /**
     * Set by a store that can keep what the request builds now (local-responses.ts): pass it back
     * to `save` — the builder's reads all come after this lookup.
     */
    readonly mark?: number;
    /** invalidated, a remembered answer stale only through tombstones: what a patch needs (StaleAnswer). */
    readonly stale?: StaleAnswer;
  };

/**
 * A stale answer whose list generations are all unchanged: only tombstones moved (entities', or
 * range buckets'), so its shape may be unchanged and a patch may rebuild it (response-cache.ts).
 * Read in the lookup's atomic MGET: `changed` and `dependencies` are as of that instant.
 */
export interface StaleAnswer {
  readonly key: string;
  /** Its build id: what the builder recorded about it is kept under it. */
  readonly build: string;
  readonly response: StoredResponse;
  /** The tombstone keys that moved since it was built. */
  readonly changed: readonly string[];
  /**
   * Its dependency keys with the lookup's clock and the observed tombstones' values then: what an
   * answer is stored with once the changed rows are read again (after the lookup) and patched in.
   */
  readonly dependencies: Dependencies;
}

export interface SaveOptions {
  /** From the builder's missed lookup (ResponseLookup.mark). */
  readonly mark?: number;
  /** The build's id (newBuildId), when the caller keeps something under it; absent: a new one. */
  readonly build?: string;
}

export interface ResponseStore {
  /**
   * One round trip: the first of `keys` holding a response whose dependencies are all current.
   * `withDependencies`: a hit also answers them (ResponseLookup.dependencies), for an in-process copy.
   * Never rejects.
   */
  lookup(keys: readonly string[], options?: { readonly withDependencies?: boolean }): Promise<ResponseLookup>;
  /** One round trip. Never rejects (a lost save costs one later miss). `mark`: from the builder's missed lookup. */
  save(key: string, response: StoredResponse, dependencies: Dependencies, ttlSeconds: number, options?: SaveOptions): Promise<boolean>;
}

/**
 * Checks stored responses in order and answers the first still current, with its dependency
 * check done inside Redis, so a hit costs one round trip whatever the response was built from.
 * (An answer the process remembers is checked with a plain MGET instead: see validatedLookup.)
 * The value is `<dependencies JSON>\n<meta JSON>\n<body>`: the dependencies hold the clock `c`, the build id `i`,
 * tombstone keys `t`, observed tombstone pairs `o` and generation pairs `g`. Current means: no
 * tombstone of `t` newer than `c`, every tombstone of `o` and every generation unchanged. Only
 * meta and body travel back (the dependencies, often larger than the body, stay in Redis), unless
 * `withDependencies` asks for them (ARGV[2]: an in-process copy follows them, local-responses.ts).
 * A response found stale is deleted, so it is not checked again.
 * Fast path (ARGV[1], the invalidation clock's key, '' for none): every invalidation INCRs that
 * clock in the same atomic script as its tombstones and bumps (redis-store.ts), and the recorded
 * clock `c` was read, in the same MGET as the values, before anything the answer holds was read.
 * So a clock still equal to `c` means no invalidation at all since the answer began to be built:
 * it is current without looking at its dependencies (and without decoding them) — the usual case
 * for warm reads between writes. Any other clock takes the full check.
 * The dependency keys are not declared in KEYS: fine on a single Redis (Redis 7 allows it without
 * script flags); on a cluster they live in other slots, so there the check is done by the client
 * instead (see lookupOnCluster). Returns {1, meta and body, index of the key} for a hit, {2} when
 * stale entries were found — {2, keys, values} with the snapshot of the first one (ResponseLookup's
 * `snapshot`: the clock ARGV[1], the keys its loaders read `r`, and every dependency key) —, {0}.
 */
const LOOKUP_SCRIPT = `${MGET_ALL_LUA}
local stale = false
local snapshot = false
local clockNow = false
-- ARGV[2] '1': the dependencies line travels back too (an in-process copy follows them).
local function answer(raw, nl)
  if ARGV[2] == '1' then return raw end
  return string.sub(raw, nl + 1)
end
-- No clock yet (no invalidation ever, in this epoch) reads as 0, as it does for the loaders.
if ARGV[1] ~= '' then clockNow = redis.call('GET', ARGV[1]) or '0' end
-- Values of the keys at odd positions of a [key, value, key, value…] list, 256 keys per MGET.
local function unchanged(pairs_)
  for i = 1, #pairs_, 512 do
    local keys = {}
    for j = i, math.min(i + 510, #pairs_ - 1), 2 do keys[#keys + 1] = pairs_[j] end
    local values = redis.call('MGET', unpack(keys))
    for k, v in ipairs(values) do
      if (v or '') ~= pairs_[i + 2 * k - 1] then return false end
    end
  end
  return true
end
local function current(h)
  for _, v in ipairs(mgetAll(h.t, #h.t)) do
    if v and tonumber(v) > h.c then return false end
  end
  return unchanged(h.o) and unchanged(h.g)
end
for index, key in ipairs(KEYS) do
  local raw = redis.call('GET', key)
  if raw then
    local nl = string.find(raw, '\\n', 1, true)
    -- The dependencies are JSON with the clock first: {"c":N,...}
    if nl and clockNow and string.match(raw, '^{"c":(%d+),') == clockNow then return {1, answer(raw, nl), index} end
    local ok, h = false, nil
    if nl then ok, h = pcall(cjson.decode, string.sub(raw, 1, nl - 1)) end
    if ok and type(h) == 'table' and type(h.t) == 'table' and type(h.o) == 'table' and type(h.g) == 'table' and current(h) then
      return {1, answer(raw, nl), index}
    end
    redis.call('DEL', key)
    if not stale and ok and type(h) == 'table' and type(h.r) == 'table' and ARGV[1] ~= '' then
      snapshot = {ARGV[1]}
      for _, k in ipairs(h.r) do snapshot[#snapshot + 1] = k end
      for _, k in ipairs(h.t) do snapshot[#snapshot + 1] = k end
      for i = 1, #h.o, 2 do snapshot[#snapshot + 1] = h.o[i] end
      for i = 1, #h.g, 2 do snapshot[#snapshot + 1] = h.g[i] end
    end
    stale = true
  end
end
if snapshot then return {2, snapshot, mgetAll(snapshot, #snapshot)} end
if stale then return {2} end
return {0}`;

type LookupReply = [number, (string | number | (string | null)[])?, (number | (string | null)[])?];
const FAST_LOOKUP = { responseLookup: luaScript(LOOKUP_SCRIPT) };

export function createRedisResponseStore(
  redis: RedisClient,
  options: {
    observer?: StoreObserver;
    usable?: () => boolean;
    /**
     * The invalidation clock's key (it moves with the epoch), for the lookup's fast path; absent:
     * every lookup checks the dependencies (e.g. with an in-process tier, whose copies a build may
     * use without the clock vouching for them).
     */
    clockKey?: () => string;
    /**
     * Bound on what the process remembers of the answers it has seen, in the keys they name (their
     * dependencies and their loaders' reads, ≈ 80–100 bytes each): a remembered answer's hit is one
     * plain MGET (see validatedLookup). 0: none.
     */
    knownMaxKeys?: number;
    /**
     * The connection for the lookups (MGETs and scripts) and saves (fast-connection.ts), while it
     * is ready; the `redis` connection otherwise.
     */
    fastConnection?: FastConnection | null;
  } = {},
): ResponseStore {
  const { observer = {}, usable = () => true, clockKey, knownMaxKeys = DEFAULT_KNOWN_MAX_KEYS, fastConnection } = options;
  // Lookups and saves take the fast connection while it is up (the same commands, the same atomicity).
  const commands = createRedisCommands(redis, { connection: fastConnection, scripts: FAST_LOOKUP });
  const known = knownMaxKeys > 0 && !redis.isCluster ? createKnownAnswers(knownMaxKeys) : null;

  /** Remembers the build of an answer saved here or found by the script (with its dependencies line). */
  function learn(key: string, header: AnswerHeader | null): void {
    const answer = header && knownFromHeader(header);
    if (known && answer) known.set(key, answer);
  }

  /**
   * A lookup of answers this process has seen, without the script: one MGET of the keys, each
   * known one followed by its dependencies — atomic, so the answer and what it depends on are
   * read at one instant, and the check (checkPasses) is the script's full check, done here. Redis
   * then only reads keys: the script's cost (its Lua, and the answer passing through it) is what a
   * hit cost most inside Redis. Null when the script must decide: a key holds an answer not known
   * here (another build, or never seen). For the first answer found stale, what it was built from
   * is read for the rebuild's snapshot (see snapshotOf).
   */
  async function validatedLookup(keys: readonly string[], withDependencies: boolean): Promise<ResponseLookup | null> {
    if (!known) return null;
    const clock = clockKey?.();
    let entries: (KnownAnswer | undefined)[];
    let reads: readonly string[];
    let at: readonly number[];
    if (keys.length === 1) {
      // The common case (one key: an anonymous request), on every hit: the MGET's keys are kept
      // with the known answer, built once per epoch.
      const entry = known.get(keys[0]!);
      if (!entry) return null;
      entries = [entry];
      reads = singleReads(keys[0]!, entry, clock);
      at = [clock ? 1 : 0];
    } else {
      entries = keys.map((key) => known.get(key));
      if (entries.every((entry) => entry === undefined)) return null;
      // The clock first (the script's fast path, below), then each key followed by what its known
      // answer depends on; `at`: where each key's value lands.
      const all: string[] = clock ? [clock] : [];
      at = entries.map((entry, i) => {
        all.push(keys[i]!, ...(entry?.reads ?? []));
        return all.length - 1 - (entry?.reads.length ?? 0);
      });
      reads = all;
    }
    const values = await timed('responseLookup', () => commands.mget(reads));
    // As in the script: no clock yet reads as 0, and a clock still equal to the answer's means no
    // invalidation at all since it began to be built — current whatever its dependencies say.
    const clockNow = clock ? values[0] ?? '0' : null;
    // As in the script, a stale answer does not stop the search: the next key may hold a current one.
    let firstStale: KnownAnswer | null = null;
    let stale: StaleAnswer | undefined;
    for (const [i, entry] of entries.entries()) {
      const raw = values[at[i]!];
      if (raw == null) continue;
      if (!entry || !raw.startsWith(entry.head)) return null;
      if (clockNow !== String(entry.clock) && !checkPasses(entry, values, at[i]! + 1)) {
        if (!firstStale) {
          firstStale = entry;
          stale = clockNow === null ? undefined : staleAnswer(keys[i]!, entry, raw, values, at[i]! + 1, Number(clockNow));
        }
        continue;
      }
      const response = decodeKnown(entry, raw);
      if (!response) return null;
      const key = keys[i]!;
      return withDependencies ? { kind: 'hit', key, response, dependencies: entry.reads } : { kind: 'hit', key, response };
    }
    if (!firstStale) return { kind: 'absent' };
    const snapshot = await snapshotOf(firstStale);
    return snapshot?.kind === 'invalidated' && stale ? { ...snapshot, stale } : snapshot;
  }

  /** What a known answer's hits reuse: its single-key MGET's keys (for one clock key), and its stored value's meta line decoded. */
  const reuse = new WeakMap<KnownAnswer, { clock: string | undefined; reads: readonly string[]; meta?: { response: Omit<StoredResponse, 'body'>; bodyAt: number } }>();

  function singleReads(key: string, entry: KnownAnswer, clock: string | undefined): readonly string[] {
    const kept = reuse.get(entry);
    if (kept && kept.clock === clock) return kept.reads;
    const reads = clock ? [clock, key, ...entry.reads] : [key, ...entry.reads];
    reuse.set(entry, { clock, reads });
    return reads;
  }

  /**
   * The stored answer of a known build. A build's stored value never changes (a new answer, a
   * patched one too, is a new build), so its meta line is parsed once and later hits only slice
   * the body off the value.
   */
  function decodeKnown(entry: KnownAnswer, raw: string): StoredResponse | null {
    const kept = reuse.get(entry);
    const meta = kept?.meta;
    if (meta && raw.charCodeAt(meta.bodyAt - 1) === 10) return { ...meta.response, body: raw.slice(meta.bodyAt) };
    const headerEnd = raw.indexOf('\n');
    const response = decode(raw.slice(headerEnd + 1));
    if (!response) return null;
    if (kept) {
      const { body, ...rest } = response;
      kept.meta = { response: rest, bodyAt: raw.length - body.length };
    }
    return response;
  }

  /** A stale remembered answer's StaleAnswer, or undefined when a generation moved (its lists changed). */
  function staleAnswer(key: string, entry: KnownAnswer, raw: string, values: readonly (string | null)[], offset: number, clock: number): StaleAnswer | undefined {
    const { tombstones, pairs, header } = entry;
    const changed: string[] = [];
    for (let i = 0; i < tombstones.length; i++) {
      const value = values[offset + i];
      if (value != null && Number(value) > entry.clock) changed.push(tombstones[i]!);
    }
    // The pairs are the observed tombstones', then the generations' (checkOf).
    const observed: string[] = [];
    for (let j = 0; j < pairs.length; j += 2) {
      const now = values[offset + tombstones.length + j / 2] ?? '';
      const isObserved = j < header.o.length;
      if (now !== pairs[j + 1]) {
        if (!isObserved) return undefined;
        changed.push(pairs[j]!);
      }
      if (isObserved) observed.push(pairs[j]!, now);
    }
    const response = decode(raw.slice(raw.indexOf('\n') + 1));
    if (!response) return undefined;
    return { key, build: entry.build, response, changed, dependencies: { clock, tombstones, observed, generations: header.g, reads: header.r ?? [] } };
  }

  /**
   * A remembered answer found stale: what the script would answer (its snapshot, see
   * ResponseLookup), without running it — one MGET of the clock, the keys its loaders read and its
   * dependencies (atomic: one instant, as the rebuild's loaders need). The stale answer is left
   * for the rebuild's save to replace (the script deletes it; a plain DEL here could delete a new
   * build another process stored meanwhile). Null without a clock key: the script decides.
   */
  async function snapshotOf(known: KnownAnswer): Promise<ResponseLookup | null> {
    const clock = clockKey?.();
    if (!clock) return null;
    const reads = [clock, ...known.loaderReads, ...known.reads];
    const values = await timed('responseLookup', () => commands.mget(reads));
    return { kind: 'invalidated', snapshot: new Map(reads.map((read, i) => [read, values[i] ?? null])) };
  }

  /**
   * The lookup of a Redis Cluster, where the dependencies live in other slots than the answer: the
   * answer's keys first (one slot: `{hash}` tags them alike), then its dependencies grouped per
   * slot — two round trips instead of one, the same rule.
   */
  async function lookupOnCluster(keys: readonly string[], withDependencies: boolean): Promise<LookupReply> {
    const raws = await commands.mget(keys);
    let stale = false;
    for (const [i, raw] of raws.entries()) {
      if (raw === null) continue;
      if (await isCurrent(raw)) return [1, withDependencies ? raw : raw.slice(raw.indexOf('\n') + 1), i + 1];
      stale = true;
      await redis.del(keys[i]!);
    }
    return [stale ? 2 : 0];
  }

  async function isCurrent(raw: string): Promise<boolean> {
    const header = parseHeader(raw);
    if (!header) return false;
    const check = checkOf(header);
    return checkPasses(check, await commands.mget(check.reads), 0);
  }

  const timed = <T>(operation: 'responseLookup' | 'responseSave', run: () => Promise<T>): Promise<T> =>
    timedRoundTrip(observer, operation, 1, run);

  return {
    async lookup(keys, { withDependencies = false } = {}) {
      if (keys.length === 0 || !usable()) return { kind: 'unavailable' };
      try {
        const validated = await validatedLookup(keys, withDependencies);
        if (validated) return validated;
        // The dependencies line comes back too when this process remembers answers: it learns them.
        const withHeader = withDependencies || known !== null;
        const [status, raw, index] = await timed('responseLookup', (): Promise<LookupReply> =>
          redis.isCluster ? lookupOnCluster(keys, withHeader) : commands.run({ name: 'responseLookup', keys, args: [clockKey?.() ?? '', withHeader ? '1' : ''] }) as Promise<LookupReply>);
        if (status === 1 && typeof raw === 'string') {
          const key = keys[(typeof index === 'number' ? index : 1) - 1]!;
          if (!withHeader) {
            const response = decode(raw);
            if (response) return { kind: 'hit', key, response };
          } else {
            const header = parseHeader(raw);
            const response = header && decode(raw.slice(raw.indexOf('\n') + 1));
            if (header && response) {
              learn(key, header);
              if (!withDependencies) return { kind: 'hit', key, response };
              return { kind: 'hit', key, response, dependencies: checkOf(header).reads };
            }
          }
        }
        if (status === 2 && Array.isArray(raw) && Array.isArray(index)) {
          const values = index;
          return { kind: 'invalidated', snapshot: new Map(raw.map((key, i) => [String(key), values[i] ?? null])) };
        }
        return { kind: status === 2 ? 'invalidated' : 'absent' };
      } catch {
        return { kind: 'unavailable' };
      }
    },

    async save(key, response, dependencies, ttlSeconds, { build } = {}) {
      const ttl = Math.min(Math.floor(ttlSeconds), RESPONSE_MAX_TTL_SECONDS);
      if (ttl <= 0 || !usable()) return false;
      const header: AnswerHeader = { c: dependencies.clock, i: build ?? newBuildId(), t: dependencies.tombstones, o: dependencies.observed, g: dependencies.generations, r: dependencies.reads ?? [] };
      const meta = JSON.stringify({ a: response.maxAge, s: response.scope, at: response.storedAt, x: response.expiresAt });
      try {
        await timed('responseSave', () => commands.run({ name: 'set', keys: [key], args: [`${JSON.stringify(header)}\n${meta}\n${response.body}`, 'EX', ttl] }));
        learn(key, header);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** Remembered answers' bound by default, in the keys they name: ≈ 16–20 MB. */
const DEFAULT_KNOWN_MAX_KEYS = 200_000;

/** The dependencies line of a stored value (the cluster's client-side check reads it). */
function parseHeader(raw: string): AnswerHeader | null {
  const nl = raw.indexOf('\n');
  if (nl < 0) return null;
  try {
    const header = JSON.parse(raw.slice(0, nl)) as AnswerHeader;
    return Array.isArray(header.t) && Array.isArray(header.o) && Array.isArray(header.g) ? header : null;
  } catch {
    return null;
  }
}

/** Meta line and body, as a lookup answers them. */
function decode(metaAndBody: string): StoredResponse | null {
  const nl = metaAndBody.indexOf('\n');
  if (nl < 0) return null;
  try {
    const meta = JSON.parse(metaAndBody.slice(0, nl)) as { a?: unknown; s?: unknown; at?: unknown; x?: unknown };
    if (typeof meta.a !== 'number' || (meta.s !== 'PUBLIC' && meta.s !== 'PRIVATE') || typeof meta.at !== 'number') return null;
    const response: StoredResponse = { body: metaAndBody.slice(nl + 1), maxAge: meta.a, scope: meta.s, storedAt: meta.at };
    return typeof meta.x === 'number' ? { ...response, expiresAt: meta.x } : response;
  } catch {
    return null;
  }
}
