/**
 * A set of eviction requests: entity keys to delete, list families whose generation to bump, and
 * sort values of range-bucketed families that a row left or entered (see range-buckets.ts).
 * Requests from every source of one unit of work (the mutation resolver, the ORM subscriber) land in
 * one set, so duplicates collapse before anything is sent.
 */
export class Evictions {
  readonly #entities = new Map<string, { type: string; id: string }>();
  readonly #families = new Set<string>();
  readonly #ranges = new Map<string, Set<number>>();
  readonly #fills = new Map<string, { value: string; ttlSeconds: number; guardClock: number }>();
  readonly #pageFills = new Map<string, { family: string; variant: string; value: string; ttlSeconds: number; expectedGeneration: string }>();
  readonly #applied: ((invalidated: boolean) => void)[] = [];

  /** Delete the cached entity (or per-entity aggregate) `type:id`. */
  entity(type: string, id: string | number): this {
    const key = `${type}:${id}`;
    if (!this.#entities.has(key)) this.#entities.set(key, { type, id: String(id) });
    return this;
  }

  /** Invalidate every cached page of a list family (one INCR of its generation). */
  family(name: string): this {
    this.#families.add(name);
    return this;
  }

  /**
   * A row of the sorted family `name` moved from sort value `from` to `to` without the list's
   * membership changing: only pages whose value range holds either value are affected.
   */
  reorder(name: string, from: number, to: number): this {
    let values = this.#ranges.get(name);
    if (!values) this.#ranges.set(name, (values = new Set()));
    values.add(from).add(to);
    return this;
  }

  /**
   * Delete the entity `type:id` and write the writer's own committed value in its place, in the
   * same invalidation, unless the entity was invalidated after `guardClock` (a clock read before
   * the writer's COMMIT; see EntityEviction.fill).
   */
  fill(type: string, id: string | number, value: string, ttlSeconds: number, guardClock: number): this {
    this.entity(type, id);
    this.#fills.set(`${type}:${id}`, { value, ttlSeconds, guardClock });
    return this;
  }

  /** The fill asked for the entity `type:id`, if any. */
  fillOf(type: string, id: string): { value: string; ttlSeconds: number; guardClock: number } | undefined {
    return this.#fills.get(`${type}:${id}`);
  }

  /**
   * Bump the family and write the writer's new value of one of its pages in the same invalidation,
   * unless the family's generation had moved from `expectedGeneration` (the one the writer read the
   * old page under, before its transaction; see InvalidationRequest.pageFills). `value` is the
   * stored envelope, under the generation after the bump.
   */
  pageFill(family: string, variant: string, value: string, ttlSeconds: number, expectedGeneration: string): this {
    this.family(family);
    this.#pageFills.set(`${family}:${variant}`, { family, variant, value, ttlSeconds, expectedGeneration });
    return this;
  }

  pageFills(): Iterable<{ family: string; variant: string; value: string; ttlSeconds: number; expectedGeneration: string }> {
    return this.#pageFills.values();
  }

  /** Told once the set has been applied: `true` if it reached the store, `false` if it was lost. */
  whenApplied(callback: (invalidated: boolean) => void): this {
    this.#applied.push(callback);
    return this;
  }

  /** Called by whoever applies the set (Invalidator.apply). */
  applied(invalidated: boolean): void {
    for (const callback of this.#applied.splice(0)) callback(invalidated);
  }

  merge(other: Evictions): this {
    for (const { type, id } of other.entities()) this.entity(type, id);
    for (const name of other.families()) this.family(name);
    for (const { family, value } of other.ranges()) this.reorder(family, value, value);
    for (const [key, fill] of other.#fills) this.#fills.set(key, fill);
    for (const [key, fill] of other.#pageFills) this.#pageFills.set(key, fill);
    this.#applied.push(...other.#applied.splice(0));
    return this;
  }

  entities(): Iterable<{ type: string; id: string }> {
    return this.#entities.values();
  }

  families(): Iterable<string> {
    return this.#families;
  }

  /** Sort values that rows left or entered, per family (a family bumped whole needs none). */
  *ranges(): Iterable<{ family: string; value: number }> {
    for (const [family, values] of this.#ranges) {
      if (this.#families.has(family)) continue;
      for (const value of values) yield { family, value };
    }
  }

  get size(): number {
    return this.#entities.size + this.#families.size + this.#ranges.size;
  }

  /** A stable, sorted description (for logs, traces and test assertions). */
  describe(): { entities: string[]; families: string[]; ranges: string[] } {
    const ranges = [...this.ranges()].map(({ family, value }) => `${family}@${value}`);
    return { entities: [...this.#entities.keys()].sort(), families: [...this.#families].sort(), ranges: ranges.sort() };
  }
}
