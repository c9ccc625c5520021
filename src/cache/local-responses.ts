import { LRUCache } from 'lru-cache';
import { dependencyKeys } from './dependencies.ts';
import type { LocalTier } from './local-tier.ts';
import type { ResponseLookup, ResponseStore, StoredResponse } from './response-store.ts';

export interface LocalResponsesOptions {
  /** Answers held at most (least recently used go first). */
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
  /** Copies dropped because an invalidation named something they depend on. */
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
}

/** Messages are remembered in two generations of this many: a lookup in flight while more arrived is not kept. */
const ROTATE_EVERY = 1024;
const DEFAULT_MAX_SIZE = 64 * 1024 * 1024;
/** An answer is copied when looked up again within this many `ttlMs` of a lookup. */
const ADMISSION_WINDOW = 10;

/**
 * Whole answers held in process, in front of the Redis response store, kept coherent by the same
 * invalidation messages as the in-process tier (local-tier.ts), which it follows.
 *
 * A copy is taken from a Redis hit, whose lookup checked it current inside Redis and answered what
 * it depends on (tombstones and generations) — from the second lookup of an answer within
 * ADMISSION_WINDOW × ttlMs, so that answers asked for once do not pay for it — or from an answer
 * saved by the request whose lookup missed (the miss answers a mark that the save brings back): it
 * was built from reads made after that miss. From then on the copy is current until an
 * invalidation changes one of those keys — and every invalidation names the keys it changes in its
 * message (announcedKeys), published in the invalidation's own atomic script (or, on a cluster,
 * after all of its writes), before the writer answers. So:
 *   - an invalidation that ran before the lookup's check made the lookup miss;
 *   - one that ran after it publishes after it, so its message arrives after the lookup was sent:
 *     if before the answer, the copy is not kept (the message's keys are compared with the
 *     answer's dependencies); if after, the message drops the copy (an index from dependency to
 *     copies).
 * Before answering from memory, the lookup waits for the tier's barrier, so that every message
 * published before it began has been applied (as the tier does). Copies are served only while the tier's
 * subscription is known to hold and the cache is usable; a suspension or an epoch change empties
 * them. Bound: as the tier's — none while pub/sub delivers, and never longer than `ttlMs` after the
 * copy was checked in Redis (nor past the answer's life in Redis, StoredResponse.expiresAt).
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
  // Dependency key → keys of the copies that depend on it.
  const dependents = new Map<string, Set<string>>();
  const lru = new LRUCache<string, Held>({
    max: options.max,
    maxSize: options.maxSize ?? DEFAULT_MAX_SIZE,
    sizeCalculation: (held) => Math.max(1, held.response.body.length),
    ttl: options.ttlMs,
    dispose: (held, key) => {
      for (const dependency of held.dependencies) {
        const copies = dependents.get(dependency);
        copies?.delete(key);
        if (copies?.size === 0) dependents.delete(dependency);
      }
    },
  });

  // Answers looked up recently (keys only): the candidates for a copy.
  const seen = new LRUCache<string, true>({ max: options.max, ttl: options.ttlMs * ADMISSION_WINDOW });
  // Copies a message dropped: Redis's answer depends on the same keys, so it is stale too, unless
  // another process has rebuilt it since. The next lookup of one is a miss without asking Redis —
  // this process rebuilds it (another's rebuild is not waited for): one round trip less per rebuild.
  const invalidated = new LRUCache<string, true>({ max: options.max, ttl: options.ttlMs });

  // Every message (and local invalidation) moves the sequence; the keys it named are remembered
  // with it, in two generations, so a lookup can tell whether anything it depends on changed while
  // it was in flight. `forgottenBelow`: messages before it are no longer remembered.
  let sequence = 0;
  let recent = new Map<string, number>();
  let older = new Map<string, number>();
  let rotatedAt = 0;
  let forgottenBelow = 0;
  let clearedAt = 0;
  let epoch: number | null = null;

  function clear(): void {
    sequence++;
    clearedAt = sequence;
    lru.clear();
    dependents.clear();
  }

  tier.follow({
    evicted(keys) {
      sequence++;
      if (sequence - rotatedAt >= ROTATE_EVERY) {
        forgottenBelow = rotatedAt;
        older = recent;
        recent = new Map();
        rotatedAt = sequence;
      }
      for (const key of keys) {
        recent.set(key, sequence);
        const copies = dependents.get(key);
        if (!copies) continue;
        let dropped = 0;
        for (const copy of [...copies]) {
          if (!lru.delete(copy)) continue;
          dropped++;
          invalidated.set(copy, true);
        }
        if (dropped > 0) count('evicted', dropped);
      }
    },
    cleared: clear,
  });

  /** Whether nothing `dependencies` names has changed since `since` (and that is still known). */
  function unchangedSince(since: number, dependencies: readonly string[]): boolean {
    if (since < forgottenBelow || since < clearedAt) return false;
    if (since === sequence) return true;
    return dependencies.every((key) => (recent.get(key) ?? older.get(key) ?? 0) <= since);
  }

  const serving = () => tier.active() && options.usable();

  /** Holds a copy checked (or built) current as of `since`, unless something it depends on changed since. */
  function keep(key: string, response: StoredResponse, dependencies: readonly string[], since: number): void {
    if (!serving() || epoch !== options.epoch() || !unchangedSince(since, dependencies)) {
      count('discarded');
      return;
    }
    // Never past the answer's life in Redis (its maxAge unless kept longer), nor past the tier's bound.
    const expiresAt = response.expiresAt ?? response.storedAt + response.maxAge * 1000;
    const ttl = Math.min(options.ttlMs, expiresAt - Date.now());
    if (ttl <= 0) return;
    lru.delete(key); // its old dependencies leave the index before the new ones enter
    lru.set(key, { response, dependencies }, { ttl });
    if (!lru.has(key)) return; // larger than the whole tier may hold
    for (const dependency of dependencies) {
      let copies = dependents.get(dependency);
      if (!copies) dependents.set(dependency, (copies = new Set()));
      copies.add(key);
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
    size: () => lru.size,

    async lookup(keys): Promise<ResponseLookup> {
      followEpoch();
      const first = keys[0];
      if (first !== undefined && serving() && lru.has(first)) {
        // Every message published before this lookup began is applied first (LocalTier.barrier).
        const synced = await tier.barrier();
        const held = synced && serving() && epoch === options.epoch() ? lru.get(first) : undefined;
        if (held) {
          count('served');
          return { kind: 'hit', key: first, response: held.response };
        }
      }
      // Admission: an answer is copied on its second lookup within the window, not its first —
      // asking Redis for the dependencies and indexing them costs more than a copy asked for once
      // saves (the long tail of a Zipf workload).
      const keeping = first !== undefined && serving() && (seen.has(first) || (seen.set(first, true), false));
      const since = sequence;
      if (keys.length === 1 && serving() && invalidated.delete(first!)) return { kind: 'invalidated', mark: since };
      const found = await inner.lookup(keys, { withDependencies: keeping });
      // Missed: the request builds the answer from reads that all come after `since`; its save
      // brings the mark back (a per-key mark would not do: a request that missed later, after a
      // change the builder's reads preceded, would vouch for them).
      if (found.kind !== 'hit') return serving() && found.kind !== 'unavailable' ? { ...found, mark: since } : found;
      if (found.dependencies && keeping) keep(found.key, found.response, found.dependencies, since);
      return found;
    },

    async save(key, response, dependencies, ttlSeconds, { mark, build } = {}) {
      // A new answer under this key: a held one (if any) is not the one Redis will hold.
      lru.delete(key);
      invalidated.delete(key);
      const saved = await inner.save(key, response, dependencies, ttlSeconds, { build });
      // Built from reads made after its lookup missed at `mark`: as current as a Redis hit checked
      // then, so it is kept on the same condition (nothing it depends on named since).
      if (saved && mark !== undefined) keep(key, response, dependencyKeys(dependencies), mark);
      return saved;
    },
  };
}
