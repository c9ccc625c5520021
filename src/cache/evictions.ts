/**
 * A set of eviction requests: entity keys to delete and list families whose generation to bump.
 * Requests from every source of one unit of work (the mutation resolver, the ORM subscriber) land in
 * one set, so duplicates collapse before anything is sent.
 */
export class Evictions {
  readonly #entities = new Map<string, { type: string; id: string }>();
  readonly #families = new Set<string>();

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

  merge(other: Evictions): this {
    for (const { type, id } of other.entities()) this.entity(type, id);
    for (const name of other.families()) this.family(name);
    return this;
  }

  entities(): Iterable<{ type: string; id: string }> {
    return this.#entities.values();
  }

  families(): Iterable<string> {
    return this.#families;
  }

  get size(): number {
    return this.#entities.size + this.#families.size;
  }

  /** A stable, sorted description (for logs, traces and test assertions). */
  describe(): { entities: string[]; families: string[] } {
    return { entities: [...this.#entities.keys()].sort(), families: [...this.#families].sort() };
  }
}
