import type { CacheStore } from '../../src/cache/cache-store.ts';
import { createKeyReader } from '../../src/cache/key-reader.ts';
import { createReadThroughLoader } from '../../src/cache/read-through-loader.ts';

/**
 * The range check of a cached value (a page of a range-bucketed list) in isolation, over an
 * in-memory store: served only while no bucket tombstone is newer than the clock it was built
 * under — and never when the check's own read fails (a failed read answers null for everything,
 * which must not pass for "no tombstone").
 */
function memoryStore(data: Map<string, string>, failReadsOf: Set<string>): CacheStore {
  const getMany = async (keys: readonly string[]) => {
    // As the Redis store does when Redis fails: every key null, no error.
    if (keys.some((key) => failReadsOf.has(key))) return keys.map(() => null);
    return keys.map((key) => data.get(key) ?? null);
  };
  return {
    getMany,
    lookup: async (reads) => ({ values: await getMany(reads.map((r) => r.key)), leases: reads.map(() => 'skipped' as const) }),
    async setMany(entries) {
      for (const { key, value } of entries) data.set(key, value);
    },
    async acquire(leases, generations) {
      return { acquired: leases.map(() => false), values: leases.map(() => null), generations: generations.map(({ key }) => data.get(key) ?? null) };
    },
    invalidate: () => Promise.reject(new Error('not used')),
    increment: () => Promise.reject(new Error('not used')),
    raiseCounter: async () => null,
  };
}

describe('the range check of a cached page', () => {
  let data: Map<string, string>;
  let failing: Set<string>;
  let fetched: number;

  beforeEach(() => {
    // Built under generation 7 with clock 5.
    data = new Map([['clock', '5'], ['gen', '7'], ['page', JSON.stringify({ v: 'cached page', g: '7', c: 5 })]]);
    failing = new Set();
    fetched = 0;
  });

  const load = () => {
    const store = memoryStore(data, failing);
    const loader = createReadThroughLoader<string, string>({
      name: 'Page', reader: createKeyReader(store), store, clockKey: () => 'clock', ttlSeconds: 60,
      locate: () => ({ cacheKey: 'page', generationKey: 'gen' }),
      rangesOf: () => ['range:a', 'range:b'],
      fetch: async (keys) => { fetched++; return keys.map(() => 'page from the database'); },
    });
    return loader.load('the page');
  };

  it('serves the page while its buckets are absent or older than its clock', async () => {
    data.set('range:a', '4');
    expect(await load()).toBe('cached page');
    expect(fetched).toBe(0);
  });

  it('reads it again when a bucket was set after it was built', async () => {
    data.set('range:b', '6');
    expect(await load()).toBe('page from the database');
    expect(fetched).toBe(1);
  });

  it('reads it again when the check cannot read the tombstones (a failed read is not "none")', async () => {
    data.set('range:b', '6');
    failing.add('range:b');
    expect(await load()).toBe('page from the database');
    expect(fetched).toBe(1);
  });

  it('never serves a page stored without the clock it was built under', async () => {
    data.set('page', JSON.stringify({ v: 'cached page', g: '7' }));
    expect(await load()).toBe('page from the database');
  });
});
