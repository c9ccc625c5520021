import type { Evictions } from '../cache/evictions.ts';
import type { LoaderObserver } from '../cache/read-through-loader.ts';
import type { StoreOperation } from '../cache/store-observer.ts';

/** Lists stop growing here (the counts do not): a trace must not outweigh the response it rides on. */
export const MAX_TRACE_ITEMS = 100;
/** SQL text is cut here: enough to recognise a statement; parameters are never included. */
export const MAX_SQL_CHARS = 300;

export interface TracedList {
  readonly count: number;
  readonly items: readonly string[];
}

/** `extensions.cache` of a traced response. */
export interface CacheTrace {
  readonly hit: TracedList;
  readonly missed: TracedList;
  readonly filled: TracedList;
  readonly sql: TracedList;
  readonly redis: { readonly roundTrips: number; readonly byOperation: Readonly<Partial<Record<StoreOperation, number>>> };
  readonly evictions: { readonly entities: TracedList; readonly families: TracedList; readonly ranges: TracedList };
}

class BoundedList {
  count = 0;
  readonly items: string[] = [];
  add(item: string): void {
    this.count++;
    if (this.items.length < MAX_TRACE_ITEMS) this.items.push(item);
  }
  toJSON(): TracedList {
    return { count: this.count, items: [...this.items] };
  }
}

/**
 * What one request cost the cache and the database, gathered while it runs: the loader observer
 * is the request's own (its loaders are per request); SQL, Redis round trips and evictions come
 * from process-wide observers that find this trace through the request's async context.
 */
export class RequestTrace {
  readonly #hit = new BoundedList();
  readonly #missed = new BoundedList();
  readonly #filled = new BoundedList();
  readonly #sql = new BoundedList();
  readonly #entities = new BoundedList();
  readonly #families = new BoundedList();
  /** `family@value`: sort values of range-bucketed lists that a row left or entered. */
  readonly #ranges = new BoundedList();
  readonly #redis = new Map<StoreOperation, number>();

  readonly loader: LoaderObserver = {
    lookup: (_name, _hits, _misses, keys) => {
      for (const key of keys.hit) this.#hit.add(key);
      for (const key of keys.missed) this.#missed.add(key);
    },
    fill: (_name, _written, keys) => {
      for (const key of keys) this.#filled.add(key);
    },
  };

  statement(sql: string): void {
    const text = sql.replace(/\s+/g, ' ').trim(); // the queries' own indentation is noise in JSON
    this.#sql.add(text.length > MAX_SQL_CHARS ? `${text.slice(0, MAX_SQL_CHARS)}…` : text);
  }

  roundTrip(operation: StoreOperation): void {
    this.#redis.set(operation, (this.#redis.get(operation) ?? 0) + 1);
  }

  evicted(evictions: Evictions): void {
    const { entities, families, ranges } = evictions.describe();
    for (const entity of entities) this.#entities.add(entity);
    for (const family of families) this.#families.add(family);
    for (const range of ranges) this.#ranges.add(range);
  }

  toJSON(): CacheTrace {
    const byOperation = Object.fromEntries(this.#redis);
    return {
      hit: this.#hit.toJSON(),
      missed: this.#missed.toJSON(),
      filled: this.#filled.toJSON(),
      sql: this.#sql.toJSON(),
      redis: { roundTrips: [...this.#redis.values()].reduce((a, b) => a + b, 0), byOperation },
      evictions: { entities: this.#entities.toJSON(), families: this.#families.toJSON(), ranges: this.#ranges.toJSON() },
    };
  }
}
