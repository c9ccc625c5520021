import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheStore, InvalidationRequest } from './cache-store.ts';
import { Evictions } from './evictions.ts';
import { invalidatedChannel, type Keyspace } from './keyspace.ts';
import { TOMBSTONE_TTL_MS } from './lifetimes.ts';
import { bucketsOfValue } from './range-buckets.ts';

/** Pause before an invalidation that failed is sent again. */
const RETRY_DELAY_MS = 25;

export interface InvalidatorObserver {
  applied?(evictions: Evictions): void;
  /** The invalidation may not have reached the store: cached data may be stale until repaired. */
  lost?(evictions: Evictions, error: unknown): void;
}

export interface Invalidator {
  /**
   * Runs `work` as one unit of work. Every eviction requested while it runs — explicitly by the
   * caller through the set it is handed, or by ORM hooks running in the same async context — is
   * merged and applied once, in one round trip, after `work` resolves (that is, after its
   * transaction committed). If `work` rejects, nothing is evicted: a rolled-back write changed
   * nothing that could be cached.
   */
  unitOfWork<T>(work: (evictions: Evictions) => Promise<T>): Promise<T>;
  /** The open unit of work of the current async context, if any. */
  current(): Evictions | undefined;
  /** Applies evictions now: one pipeline of DEL (entities), INCR (families) and range tombstones. Never rejects. */
  apply(evictions: Evictions): Promise<void>;
  /**
   * The invalidation clock now (0 when there is none yet, or the store cannot say): read before a
   * writer's COMMIT, it guards what the writer fills in its invalidation (Evictions.fill).
   */
  clock(): Promise<number>;
  /**
   * The clock and these entities', generations' and pages' stored values, in one read (null: absent
   * or unreadable; clock 0 when it cannot say): what a writer reads before its transaction to carry
   * cached values forward in its own invalidation (Evictions.fill, Evictions.pageFill).
   */
  snapshot(read: SnapshotRequest): Promise<Snapshot>;
}

export interface SnapshotRequest {
  readonly entities?: readonly { readonly type: string; readonly id: number }[];
  readonly families?: readonly string[];
  readonly pages?: readonly { readonly family: string; readonly variant: string }[];
}

export interface Snapshot {
  readonly clock: number;
  readonly entities: readonly (string | null)[];
  readonly generations: readonly (string | null)[];
  readonly pages: readonly (string | null)[];
}

/** The epoch as the invalidator needs it: its key, and the process's view of it. */
export interface InvalidatorEpoch {
  readonly key: string;
  current(): number;
  adopt(value: number): void;
}

export function createInvalidator(
  store: CacheStore, keyspace: Keyspace, observer: InvalidatorObserver = {}, epoch?: InvalidatorEpoch,
  /**
   * Where `clock()` reads from: the shared store itself, not an in-process tier in front of it —
   * a tier answers the clock it last read, which is older and so only refuses more writers' fills.
   */
  clockStore: Pick<CacheStore, 'getMany'> = store,
): Invalidator {
  const context = new AsyncLocalStorage<Evictions>();
  // A callback scheduled inside a unit of work keeps its async context after the unit has applied;
  // a request merged into it then would be lost, so current() answers only for open units.
  const open = new WeakSet<Evictions>();

  async function apply(evictions: Evictions): Promise<void> {
    if (evictions.size === 0) {
      evictions.applied(true);
      return;
    }
    const request = () => ({
      entities: [...evictions.entities()].map(({ type, id }) => {
        const fill = evictions.fillOf(type, id);
        return {
          key: keyspace.entity(type, id), tombstoneKey: keyspace.tombstone(type, id), leaseKey: keyspace.entityLease(type, id),
          ...(fill ? { fill } : {}),
        };
      }),
      generationKeys: [...evictions.families()].map((family) => keyspace.generation(family)),
      pageFills: [...evictions.pageFills()].map(({ family, variant, value, ttlSeconds, expectedGeneration }) => ({
        key: keyspace.page(family, variant), generationKey: keyspace.generation(family), value, ttlSeconds, expectedGeneration,
      })),
      rangeTombstoneKeys: [...new Set([...evictions.ranges()].flatMap(({ family, value }) =>
        bucketsOfValue(value).map((bucket) => keyspace.rangeTombstone(family, bucket))))],
      clockKey: keyspace.clock(),
      tombstoneTtlMs: TOMBSTONE_TTL_MS,
      epochKey: epoch?.key,
      // Always announced, tier or not here: other processes (and CLI writers) may run a tier.
      announce: invalidatedChannel(keyspace.prefix),
    });
    try {
      // If another process bumped the epoch and this one has not heard yet, the invalidation went
      // to a retired epoch: adopt the new one and invalidate there too (the epoch only grows).
      for (let attempt = 0; attempt < 3; attempt++) {
        const used = epoch?.current();
        const { epoch: shared } = await invalidateRetrying(request());
        if (!epoch || shared === null || used === undefined || shared <= used) break;
        epoch.adopt(shared);
      }
      observer.applied?.(evictions);
      evictions.applied(true);
    } catch (error) {
      // The write itself has committed; failing the request would not undo it. The loss is
      // reported so that the epoch is bumped before the cache is trusted again.
      observer.lost?.(evictions, error);
      evictions.applied(false);
    }
  }

  /**
   * An invalidation may be sent again: tombstones only rise, deletes and INCRs repeat harmlessly
   * (a generation moving twice costs a few extra misses). So one that failed — a command timeout
   * under load, most often, that may or may not have run — is retried once before it is declared
   * lost, which would retire the whole cache (an epoch bump) for what was a slow moment.
   */
  async function invalidateRetrying(req: InvalidationRequest) {
    try {
      return await store.invalidate(req);
    } catch {
      await sleep(RETRY_DELAY_MS);
      return store.invalidate(req);
    }
  }

  return {
    async unitOfWork(work) {
      const outer = context.getStore();
      if (outer) return work(outer); // nested: the outermost unit of work applies once
      const evictions = new Evictions();
      open.add(evictions);
      let result: Awaited<ReturnType<typeof work>>;
      try {
        result = await context.run(evictions, () => work(evictions));
      } finally {
        open.delete(evictions);
      }
      await apply(evictions);
      return result;
    },
    current() {
      const evictions = context.getStore();
      return evictions && open.has(evictions) ? evictions : undefined;
    },
    apply,
    clock: async () => (await snapshot({})).clock,
    snapshot,
  };

  async function snapshot({ entities = [], families = [], pages = [] }: SnapshotRequest): Promise<Snapshot> {
    const keys = [
      keyspace.clock(), ...entities.map(({ type, id }) => keyspace.entity(type, id)),
      ...families.map((family) => keyspace.generation(family)), ...pages.map(({ family, variant }) => keyspace.page(family, variant)),
    ];
    const values = await clockStore.getMany(keys);
    const clock = Number(values[0] ?? 0);
    const at = (from: number, n: number) => values.slice(from, from + n).map((v) => v ?? null);
    return {
      clock: Number.isSafeInteger(clock) ? clock : 0,
      entities: at(1, entities.length),
      generations: at(1 + entities.length, families.length),
      pages: at(1 + entities.length + families.length, pages.length),
    };
  }
}
