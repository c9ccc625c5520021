import { dependencyKeys } from './dependencies.ts';
import type { LocalTier } from './local-tier.ts';
import type { ResponseLookup, ResponseStore, StoredResponse } from './response-store.ts';

export interface LocalResponsesOptions {
  /** Answers held at most (the longest held go first). */
  readonly max: number;
  /** Bound on the held bodies' total size, in UTF-16 code units (≈ bytes for JSON). */
  readonly maxSize?: number;
  /** Hard bound on a copy's age: the backstop for an invalidation message lost without a disconnect. */
  readonly ttlMs: number;
  /** Whether the shared cache may be used now (not while Redis is away or a repair is pending). */
  readonly usable: () => boolean;
  /** The process's epoch: when it moves, every copy belongs to a retired epoch and is dropped. */
  readonly epoch: () => number;
  /** Told of every change of `stats` (metrics). */
  readonly observer?: (event: keyof LocalResponsesStats, count: number) => void;
}

export interface LocalResponsesStats {
  /** Lookups answered in process. */
  served: number;
  /** Redis hits kept as a copy. */
  kept: number;
  /** Redis hits not kept: something they depend on was invalidated while they were in flight. */
  discarded: number;
  /**
   * Copies found stale when next asked for (an invalidation named something they depend on, or
   * they are older than the messages remembered): dropped, and the lookup goes to Redis.
   */
  evicted: number;
}

export interface LocalResponses extends ResponseStore {
  readonly stats: LocalResponsesStats;
  /** Copies held now (tests). */
  size(): number;
}

interface Held {
  readonly response: StoredResponse;
  readonly dependencies: readonly string[];
  /**
   * The message sequence it is known current at (checked in Redis, built, or checked here since):
   * valid while nothing it depends on is named after it.
   */
  since: number;
  /** Date.now() past which it is not served (the tier's bound, the answer's life in Redis). */
  readonly expiresAt: number;
  readonly size: number;
}

/**
 * Keys named by messages remembered at most (the latest naming of each): past it the oldest are
 * forgotten, and a copy (or a lookup in flight) older than what is remembered cannot be checked —
 * it goes to Redis again.
 */
const REMEMBERED_KEYS = 65_536;
const DEFAULT_MAX_SIZE = 64 * 1024 * 1024;

/**
 * Whole answers held in process, in front of the Redis response store, kept coherent by the same
 * invalidation messages as the in-process tier (local-tier.ts), which it follows.
 *
 * A copy is taken from a Redis hit, whose lookup checked it current inside Redis and answered what
 * it depends on (tombstones and generations), or from an answer saved by the request whose lookup
 * missed (the miss answers a mark that the save brings back): it was built from reads made after
 * that miss. Either way it is current as of a point in the stream of messages (`since`), and it
 * stays current until a message names one of those keys — every invalidation names the keys it
 * changes in its message (announcedKeys), published in the invalidation's own atomic script (or,
 * on a cluster, after all of its writes), before the writer answers. Copies are checked when
 * used, not indexed: each message only records the sequence at which each key it names changed
 * (the latest naming of each key, REMEMBERED_KEYS of them), and a copy is served only if none of its
 * dependencies changed after its `since` — a few map reads per hit, where keeping an index from
 * every dependency to its copies up to date cost more than the round trip a copy saves. So:
 *   - an invalidation that ran before the lookup's check made the lookup miss;
 *   - one that ran after it publishes after it, so its message arrives after the lookup was sent,
 *     and its keys are recorded after `since`: the copy is not kept (if it came before the answer)
 *     or not served again (after).
 * Before answering from memory, the lookup waits for the tier's barrier, so that every message
 * published before it began has been applied (as the tier does). Copies are served only while the
 * tier's subscription is known to hold and the cache is usable; a suspension or an epoch change
 * empties them. Bound: as the tier's — none while pub/sub delivers, and never longer than `ttlMs`
 * after the copy was checked in Redis (nor past the answer's life in Redis, StoredResponse.expiresAt).
 *
 * A copy found stale is dropped and the lookup goes to Redis, which finds the stored answer stale
 * too (or another process's rebuild current): its stale answer and snapshot let the rebuild patch
 * it or start from what it read. Copies leave in insertion order when the bounds are reached.
 *
 * Only the first of a lookup's keys is answered locally (a signed-in viewer's own answer comes
 * before the public one, and a held public copy says nothing about a private one in Redis).
 */
export function createLocalResponses(inner: ResponseStore, tier: LocalTier, options: LocalResponsesOptions): LocalResponses {
  const stats: LocalResponsesStats = { served: 0, kept: 0, discarded: 0, evicted: 0 };
  const count = (event: keyof LocalResponsesStats, n = 1) => {
    stats[event] += n;
    options.observer?.(event, n);
  };
  const maxSize = options.maxSize ?? DEFAULT_MAX_SIZE;
  // Insertion order is eviction order (a Map iterates in it).
  const copies = new Map<string, Held>();
  let size = 0;

  // Every message (and local invalidation) moves the sequence; each key it named is remembered
  // with it, the latest naming only, in the order of the sequence (a key named again moves to the
  // end). `forgottenBelow`: namings up to it may have been forgotten.
  let sequence = 0;
  const named = new Map<string, number>();
  let forgottenBelow = 0;
  let clearedAt = 0;
  let epoch: number | null = null;

  function drop(key: string): void {
    const held = copies.get(key);
    if (!held) return;
    copies.delete(key);
    size -= held.size;
  }

  function clear(): void {
    sequence++;
    clearedAt = sequence;
    copies.clear();
    size = 0;
  }

  tier.follow({
    evicted(keys) {
      sequence++;
      for (const key of keys) {
        named.delete(key);
        named.set(key, sequence);
      }
      if (named.size <= REMEMBERED_KEYS) return;
      for (const [key, at] of named) {
        if (named.size <= REMEMBERED_KEYS * 0.75) break;
        named.delete(key);
        forgottenBelow = at;
      }
    },
    cleared: clear,
  });

  /** Whether nothing `dependencies` names has changed since `since` (and that is still known). */
  function unchangedSince(since: number, dependencies: readonly string[]): boolean {
    if (since < forgottenBelow || since < clearedAt) return false;
    if (since === sequence) return true;
    for (const key of dependencies) if ((named.get(key) ?? 0) > since) return false;
    return true;
  }

  const serving = () => tier.active() && options.usable();

  /** Holds a copy checked (or built) current as of `since`, unless something it depends on changed since. */
  function keep(key: string, response: StoredResponse, dependencies: readonly string[], since: number): void {
    if (!serving() || epoch !== options.epoch() || !unchangedSince(since, dependencies)) {
      count('discarded');
      return;
    }
    // Never past the answer's life in Redis (its maxAge unless kept longer), nor past the tier's bound.
    const now = Date.now();
    const expiresAt = Math.min(now + options.ttlMs, response.expiresAt ?? response.storedAt + response.maxAge * 1000);
    const held: Held = { response, dependencies, since, expiresAt, size: Math.max(1, response.body.length) };
    if (expiresAt <= now || held.size > maxSize) return;
    drop(key); // re-inserted: it moves to the end of the eviction order
    copies.set(key, held);
    size += held.size;
    for (const oldest of copies.keys()) {
      if (copies.size <= options.max && size <= maxSize) break;
      drop(oldest);
    }
    count('kept');
  }

  function followEpoch(): void {
    const current = options.epoch();
    if (current === epoch) return;
    if (epoch !== null) clear();
    epoch = current;
  }

  return {
    stats,
    size: () => copies.size,

    async lookup(keys): Promise<ResponseLookup> {
      followEpoch();
      const first = keys[0] ?? '';
      const candidate = copies.get(first);
      if (candidate && (candidate.expiresAt <= Date.now() || !unchangedSince(candidate.since, candidate.dependencies))) {
        // Expired, or already known stale: Redis without waiting for the barrier (it could only confirm it).
        drop(first);
        if (candidate.expiresAt > Date.now()) count('evicted');
      } else if (candidate && serving()) {
        // Checked current up to here: the check after the barrier looks only at what it brings.
        candidate.since = sequence;
        // Every message published before this lookup began is applied first (LocalTier.barrier).
        const synced = await tier.barrier();
        const held = synced && serving() && epoch === options.epoch() ? copies.get(first) : undefined;
        if (held && held.expiresAt > Date.now() && unchangedSince(held.since, held.dependencies)) {
          held.since = sequence; // current now: later checks look only at what comes after
          count('served');
          return { kind: 'hit', key: first, response: held.response };
        }
        if (held) {
          drop(first);
          if (held.expiresAt > Date.now()) count('evicted');
        }
      }
      const since = sequence;
      const found = await inner.lookup(keys, { withDependencies: serving() });
      // Missed: the request builds the answer from reads that all come after `since`; its save
      // brings the mark back (a per-key mark would not do: a request that missed later, after a
      // change the builder's reads preceded, would vouch for them).
      if (found.kind !== 'hit') return serving() && found.kind !== 'unavailable' ? { ...found, mark: since } : found;
      if (found.dependencies) keep(found.key, found.response, found.dependencies, since);
      return found;
    },

    async save(key, response, dependencies, ttlSeconds, { mark, build } = {}) {
      // A new answer under this key: a held one (if any) is not the one Redis will hold.
      drop(key);
      const saved = await inner.save(key, response, dependencies, ttlSeconds, { build });
      // Built from reads made after its lookup missed at `mark`: as current as a Redis hit checked
      // then, so it is kept on the same condition (nothing it depends on named since).
      if (saved && mark !== undefined) keep(key, response, dependencyKeys(dependencies), mark);
      return saved;
    },
  };
}
