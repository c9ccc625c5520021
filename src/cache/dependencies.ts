/**
 * What one request's answer was built from, in the terms the invalidation already speaks:
 *   - the invalidation clock read before anything was read (the smallest clock of its batches),
 *   - the tombstone of every entity it read (an entity invalidated later gets a tombstone newer
 *     than that clock),
 *   - the generation of every list family it read pages of (bumped by any change to the list).
 * A stored answer is current exactly while no tombstone is newer than its clock and every
 * generation is unchanged — checkable in one round trip, with no per-response bookkeeping on the
 * write path (DESIGN.md: invalidation stays O(1) per write, whatever is cached).
 */
export interface Dependencies {
  readonly clock: number;
  /** Tombstones of entities read from the database (side fills): current while not newer than `clock`. */
  readonly tombstones: readonly string[];
  /**
   * Tombstones read in the same MGET as their entity's value, and their values then ('' for none),
   * in pairs: current while unchanged. The clock alone cannot vouch for a value read from the cache:
   * an invalidation INCRs the clock one round trip before it writes the tombstone and deletes the
   * value, so a reader can see the new clock together with the old value.
   */
  readonly observed: readonly string[];
  /** Generation keys and the values the answer was built under, in pairs: [key, value, key, value…]. */
  readonly generations: readonly string[];
  /**
   * The value and page keys its loaders looked up (hits and misses). Not a dependency: when a
   * lookup finds the answer stale, it answers them as they are then, with the clock, tombstones and
   * generations (a snapshot, response-store.ts), so the rebuild's loaders need no lookups of their own.
   */
  readonly reads?: readonly string[];
}

/** Every key whose change makes an answer stale: its tombstones, observed tombstones and generations. */
export function dependencyKeys(dependencies: Dependencies): string[] {
  const { tombstones, observed, generations } = dependencies;
  const keys = [...tombstones];
  for (let i = 0; i < observed.length; i += 2) keys.push(observed[i]!);
  for (let i = 0; i < generations.length; i += 2) keys.push(generations[i]!);
  return keys;
}

export interface DependencyRecorder {
  /** A batch read the invalidation clock (the first, smallest, reading is the one that counts). */
  clock(value: number, readAt: number): void;
  /** An entity read from the database after the clock reading (a side fill). */
  entity(tombstoneKey: string): void;
  /** An entity looked up in the cache, with its tombstone as read in the same MGET (null: none). */
  observed(tombstoneKey: string, value: string | null): void;
  generation(key: string, value: string | null): void;
  /** A value or page key a loader looked up (see Dependencies.reads). */
  read(key: string): void;
  /**
   * Something was read that no cache key versions (e.g. a row read straight from the database):
   * the answer cannot be checked later, so it must not be stored.
   */
  untracked(reason: string): void;
  /** The dependencies if the answer may be stored, else why not. */
  result(): { dependencies: Dependencies; firstReadAt: number } | { refused: string };
}

export function createDependencyRecorder(): DependencyRecorder {
  let clock: number | null = null;
  let firstReadAt = Number.POSITIVE_INFINITY;
  const tombstones = new Set<string>();
  const observed = new Map<string, string>();
  const generations = new Map<string, string>();
  const reads = new Set<string>();
  let refused: string | null = null;

  return {
    clock(value, readAt) {
      clock = clock === null ? value : Math.min(clock, value);
      firstReadAt = Math.min(firstReadAt, readAt);
    },
    entity(tombstoneKey) {
      tombstones.add(tombstoneKey);
    },
    observed(tombstoneKey, value) {
      const seen = value ?? '';
      if ((observed.get(tombstoneKey) ?? seen) !== seen) refused ??= `tombstone ${tombstoneKey} moved while the request read it`;
      else observed.set(tombstoneKey, seen);
    },
    generation(key, value) {
      if (value === null) refused ??= `generation ${key} unknown (store unreachable)`;
      else if ((generations.get(key) ?? value) !== value) refused ??= `generation ${key} moved while the request read it`;
      else generations.set(key, value);
    },
    read(key) {
      reads.add(key);
    },
    untracked(reason) {
      refused ??= reason;
    },
    result() {
      if (refused !== null) return { refused };
      if (clock === null) return { refused: 'nothing was read through the cache' };
      return {
        dependencies: { clock, tombstones: [...tombstones], observed: [...observed].flat(), generations: [...generations].flat(), reads: [...reads] },
        firstReadAt,
      };
    },
  };
}
