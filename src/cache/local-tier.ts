import { LRUCache } from 'lru-cache';
import { announcedKeys, type CacheStore, type LookupLeaseResult } from './cache-store.ts';

export interface LocalTierOptions {
  /** The keyspace prefix: keys are classified by what follows `<prefix>:<epoch>:`. */
  readonly prefix: string;
  /** Entries held at most (least recently used go first). */
  readonly max: number;
  /** Hard bound on an entry's age: the backstop for an invalidation message lost without a disconnect. */
  readonly ttlMs: number;
  /** The process's epoch: when it moves, every entry belongs to a retired epoch and is dropped. */
  readonly epoch: () => number;
  readonly observer?: LocalTierObserver;
  /**
   * The request the caller reads for (async context), if any: one barrier per request then, at
   * its first read from memory — a barrier passed holds for all its later reads (see barrier).
   */
  readonly session?: () => BarrierSession | undefined;
}

/** Where a request keeps the barrier it passed (LocalTierOptions.session). */
export interface BarrierSession {
  tierBarrier?: Promise<boolean>;
}

export interface LocalTierObserver {
  /** A whole getMany answered in process (no round trip). */
  served?(keys: number): void;
  /** A getMany sent to Redis (some key was not held, or the tier is off). */
  forwarded?(keys: number): void;
  /** Entries dropped because an invalidation named them (this process's or another's). */
  evicted?(keys: number): void;
  /** The tier was emptied: its subscription dropped, or the epoch moved. */
  cleared?(reason: 'disconnected' | 'epoch'): void;
  /** A barrier's sync came back (`error` undefined) or failed: one round trip, shared by every read that waited for it. */
  synced?(durationMs: number, error?: unknown): void;
}

export interface LocalTierStats {
  served: number;
  forwarded: number;
  evicted: number;
  /** Redis answers not kept because an invalidation (or a disconnect) came while they were in flight. */
  discarded: number;
  cleared: number;
}

export interface LocalTier extends CacheStore {
  readonly stats: LocalTierStats;
  /** Whether reads may be served and kept locally (false until subscribed, and after a disconnect). */
  active(): boolean;
  /** Invalidation message: drops the named keys. */
  evict(keys: readonly string[]): void;
  /** The subscription is gone (messages may be lost): empty, and pass everything through. */
  suspend(): void;
  /**
   * Subscribed again: reads issued from now on may be kept. `sync`: one round trip on the
   * subscription's own connection (a PING), resolved once every message Redis published to it
   * before processing the PING has been applied — Redis answers a connection in order. Without
   * one (a cluster, whose messages cross the cluster bus), one event-loop turn stands in for it.
   */
  resume(sync?: () => Promise<unknown>): void;
  /** Entries held now (tests, metrics). */
  size(): number;
  /**
   * Tells `listener` of every key an invalidation names (messages and this process's own
   * invalidations alike) and of every moment copies must all go (a suspension, an epoch change):
   * other in-process copies (whole responses, see local-responses.ts) follow the same messages.
   */
  follow(listener: LocalTierListener): void;
  /**
   * Resolves true once every invalidation message published before the call has been applied
   * (a sync sent after the call has come back), false when that cannot be known (the
   * subscription is down or the sync failed): then nothing may be answered from memory. One
   * sync is in flight at a time and the callers waiting for the next share it, and a request (LocalTierOptions.session) waits
   * for one at most: once the messages of every write acknowledged before it began have been
   * applied, no copy older than those writes is held again — a Redis answer that raced one of
   * them is kept only if no message came while it was in flight, and one that came back before
   * its message is dropped by it.
   */
  barrier(): Promise<boolean>;
}

export interface LocalTierListener {
  evicted(keys: readonly string[]): void;
  cleared(): void;
}

/** Sentinel for a clock key Redis does not hold: an absent clock reads as 0. */
const ABSENT_CLOCK = '';

/** A held value (null: a tombstone known absent) and the invalidation clock read in the same round trip as it. */
interface Held {
  readonly value: string | null;
  readonly clock: string;
}

type LookupAnswer = { values: (string | null)[]; leases: LookupLeaseResult[] };

const clockNumber = (clock: string) => (clock === ABSENT_CLOCK ? 0 : Number(clock));

/**
 * An in-process LRU in front of the Redis store, kept coherent by invalidation messages.
 *
 * Held locally: entity values (`:e:`), pages (`:p:`), generations (`:g:`) and tombstones (`:t:`,
 * entities' and range buckets', absent ones too) — exactly what an invalidation deletes, bumps or
 * raises, and so what its message names (announcedKeys) — and the invalidation clock. The
 * clock is never evicted by messages: it only grows, and a batch that versions its fills with an
 * older clock than Redis holds only refuses more fills (a fill is dropped when the entity's
 * tombstone is newer than the clock read). A batch that needs Redis for any key re-reads the clock
 * with it, so an old local clock is used only by batches served entirely from here. Leases are
 * never held: they coordinate processes, and a stale one would break that. A held tombstone is
 * never what guards a fill (the fill script reads the real one in Redis); it is what a whole
 * response records as observed (dependencies.ts), and a copy stale until its message arrives costs
 * at most a stored answer that Redis then refuses. (Tombstones also expire in Redis, unannounced:
 * a held raised one outliving that costs the same.)
 *
 * Each held value remembers the clock read with it, and a lookup answered from here answers the
 * clock as the *oldest* of those: whatever the batch builds from these values — a fill, or a whole
 * response recording its dependencies — is versioned as of the moment the values were read from
 * Redis, so an invalidation the tier has not heard of yet (its tombstone is newer) still refuses it.
 * (Answering the latest clock seen would let a whole response built from a copy whose message is
 * still on its way pass its dependency check for as long as it is stored.) Only requests that read
 * the clock are kept: the loaders' lookups always do.
 *
 * A getMany is answered here only if every key is held; otherwise the whole request goes to Redis
 * and its answers are kept (values that exist; tombstones present or absent) — unless an
 * invalidation message (or a disconnect) arrived while it was in flight: Redis may have answered
 * before that invalidation ran, and the message that would have dropped the copy has already been
 * applied. An answer that came back before its
 * message is kept and then dropped by it. Fills (setMany) are never kept: Redis may refuse them.
 *
 * Bound: none for a write acknowledged before the read began, as long as pub/sub delivers. The
 * message is published in the invalidation's own atomic script, before the writer answers, and
 * the tier answers from memory only after a sync on the subscription's connection sent after the
 * read began has come back (barrier): Redis queued the message to that connection before it
 * answered the sync. A message lost without a disconnect: never longer than `ttlMs` after the value
 * was read from Redis. (On a cluster, messages cross the cluster bus: until the message arrives.)
 */
export function createLocalTier(inner: CacheStore, options: LocalTierOptions): LocalTier {
  const lru = new LRUCache<string, Held>({ max: options.max, ttl: options.ttlMs });
  const stats: LocalTierStats = { served: 0, forwarded: 0, evicted: 0, discarded: 0, cleared: 0 };
  const observer = options.observer ?? {};
  const ns = `${options.prefix}:`;
  let active = false;
  // Moves on every message, local invalidation and suspension: an answer is kept only if it did
  // not move while the answer was in flight.
  let sequence = 0;
  let epoch: number | null = null; // read lazily: the tier is built before the epoch it follows

  const listeners: LocalTierListener[] = [];

  // The barrier: one sync in flight at a time. A caller waits for the next sync *sent after its
  // call* (one already sent may have reached Redis before the caller's writers' messages were
  // published): the pending one, sent once the one in flight is back, in the check phase
  // (setImmediate) of that turn, so after every request read by then. Under load a sync thus
  // serves every request that arrived during the previous one's round trip — a PING per turn
  // instead cost about one PING per two hits, more than the round trips the tier saves.
  let sync: (() => Promise<unknown>) | undefined;
  let inFlight = false;
  let pending: { readonly promise: Promise<boolean>; readonly resolve: (synced: boolean) => void } | null = null;
  function sendSync(): Promise<boolean> {
    if (!sync) return Promise.resolve(true); // the turn itself: messages already received are applied
    const startedAt = performance.now();
    return sync().then(
      () => { observer.synced?.(performance.now() - startedAt); return active; },
      (error: unknown) => { observer.synced?.(performance.now() - startedAt, error); return false; },
    );
  }
  function barrier(): Promise<boolean> {
    if (!active) return Promise.resolve(false);
    const session = options.session?.();
    if (session) return (session.tierBarrier ??= nextSync());
    return nextSync();
  }
  function nextSync(): Promise<boolean> {
    if (pending) return pending.promise; // not sent yet: it will be sent after this call
    let resolve!: (synced: boolean) => void;
    pending = { promise: new Promise<boolean>((r) => { resolve = r; }), resolve };
    if (!inFlight) setImmediate(flush);
    return pending.promise;
  }
  function flush(): void {
    const sending = pending;
    if (!sending) return;
    pending = null;
    inFlight = true;
    void sendSync().then((synced) => {
      inFlight = false;
      sending.resolve(synced);
      if (pending) setImmediate(flush);
    });
  }

  function clear(reason: 'disconnected' | 'epoch'): void {
    lru.clear();
    for (const listener of listeners) listener.cleared();
    stats.cleared++;
    observer.cleared?.(reason);
  }

  function evict(keys: readonly string[]): void {
    sequence++;
    let dropped = 0;
    for (const key of keys) if (lru.delete(key)) dropped++;
    for (const listener of listeners) listener.evicted(keys);
    stats.evicted += dropped;
    if (dropped > 0) observer.evicted?.(dropped);
  }

  return {
    stats,
    active: () => active,
    evict,
    suspend() {
      sequence++;
      active = false;
      clear('disconnected');
    },
    resume(subscriptionSync) {
      sync = subscriptionSync;
      active = true;
    },
    size: () => lru.size,
    follow(listener) {
      listeners.push(listener);
    },
    barrier,

    getMany: async (keys) => (await read(keys, async () => ({ values: await inner.getMany(keys), leases: [] }))).values,
    lookup: (reads) => read(reads.map((r) => r.key), () => inner.lookup(reads)),

    setMany(entries, releases) {
      // A fill means its reader found the key missing or unservable (a page of an older generation
      // than the one held): a held copy would keep sending readers to the database until its TTL.
      for (const { key } of entries) lru.delete(key);
      return inner.setMany(entries, releases);
    },
    acquire: (leases, generations) => inner.acquire(leases, generations),

    async invalidate(request) {
      try {
        return await inner.invalidate(request);
      } finally {
        // Also when it failed: it may have happened, and a local copy must not outlive it.
        evict(announcedKeys(request));
      }
    },

    increment: (key) => inner.increment(key),
    raiseCounter: (key, floor) => inner.raiseCounter(key, floor),
  };

  /**
   * A read (getMany, or a lookup with leases: `forward` asks Redis), answered here when every key
   * is held — then no lease is taken, as every value is there — else by Redis, whose answers are kept.
   */
  async function read(keys: readonly string[], forward: () => Promise<LookupAnswer>): Promise<LookupAnswer> {
    if (keys.length === 0) return { values: [], leases: [] };
    const current = options.epoch();
    if (current !== epoch) {
      if (epoch !== null) clear('epoch');
      epoch = current;
    }
    if (active && keys.every((key) => lru.has(key))) {
      // The barrier first: a message published before this read began (say, by a writer whose
      // reply preceded the request) may not have been received yet — Redis does not order its
      // writes to different connections, and a busy machine can delay either — or may wait in the
      // poll queue behind the request's own I/O. Once a sync sent after now has come back, every
      // such message has been applied.
      const synced = await barrier();
      const held = synced && active ? keys.map((key) => lru.get(key)) : [];
      if (held.length === keys.length && held.every((entry) => entry !== undefined)) {
        stats.served++;
        observer.served?.(keys.length);
        const oldest = held.reduce((min, entry) => (clockNumber(entry!.clock) < clockNumber(min) ? entry!.clock : min), held[0]!.clock);
        const values = keys.map((key, i) => {
          if (kindOf(key, ns) !== 'clock') return held[i]!.value;
          return oldest === ABSENT_CLOCK ? null : oldest;
        });
        return { values, leases: keys.map(() => 'skipped') };
      }
    }
    stats.forwarded++;
    observer.forwarded?.(keys.length);
    const started = active ? sequence : -1;
    const answer = await forward();
    const { values } = answer;
    if (started !== sequence || !active || options.epoch() !== epoch) {
      if (started >= 0) stats.discarded++;
      return answer;
    }
    const clockAt = keys.findIndex((key) => kindOf(key, ns) === 'clock');
    if (clockAt < 0) return answer; // no clock read with them: nothing to version them by
    const clock = values[clockAt] ?? ABSENT_CLOCK;
    keys.forEach((key, i) => {
      const kind = kindOf(key, ns);
      const value = values[i] ?? null;
      if (kind === 'clock') lru.set(key, { value: clock, clock });
      else if ((kind === 'value' && value !== null) || kind === 'tombstone') lru.set(key, { value, clock });
    });
    return answer;
  }
}

/** What a key may be held as: a value (entity, page, generation), a tombstone, the clock, or never. */
function kindOf(key: string, ns: string): 'value' | 'tombstone' | 'clock' | null {
  if (!key.startsWith(ns)) return null;
  const rest = key.slice(ns.length);
  const kindAt = rest.indexOf(':') + 1; // after `<epoch>:`
  if (kindAt === 0) return null;
  if (rest.slice(kindAt) === 'clock') return 'clock';
  const kind = rest.slice(kindAt, kindAt + 2);
  if (kind === 't:') return 'tombstone';
  return kind === 'e:' || kind === 'p:' || kind === 'g:' ? 'value' : null;
}
