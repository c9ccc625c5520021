import type { CacheEntry, CacheStore } from '../../src/cache/cache-store.ts';
import { createFillQueue } from '../../src/cache/fill-queue.ts';

/** A store that records each setMany and lets the test decide when it completes. */
function recordingStore() {
  const calls: { entries: readonly CacheEntry[]; releases: readonly { key: string; token: string }[]; done: () => void }[] = [];
  const store = {
    setMany: (entries: readonly CacheEntry[], releases: readonly { key: string; token: string }[] = []) =>
      new Promise<void>((resolve) => { calls.push({ entries, releases, done: resolve }); }),
  } as unknown as CacheStore;
  return { store, calls };
}

const entry = (key: string): CacheEntry => ({ key, value: '{"v":1}', ttlSeconds: 60 });

describe('a request\'s fill queue', () => {
  it('sends everything queued in one setMany, and tells each loader once it was sent', async () => {
    const { store, calls } = recordingStore();
    const queue = createFillQueue(store);
    const written: string[] = [];
    queue.add([entry('a'), entry('b')], [{ key: 'a.lease', token: 't1' }], () => written.push('first batch'));
    queue.add([entry('c')], [], () => written.push('second batch'));
    queue.add([], [{ key: 'd.lease', token: 't2' }]); // a release alone: nothing to fill
    const flushed = queue.flush();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.entries.map((e) => e.key)).toEqual(['a', 'b', 'c']);
    expect(calls[0]!.releases).toEqual([{ key: 'a.lease', token: 't1' }, { key: 'd.lease', token: 't2' }]);
    expect(written).toEqual([]); // not before the store answered
    calls[0]!.done();
    await flushed;
    expect(written).toEqual(['first batch', 'second batch']);
    await queue.flush(); // nothing left: no round trip
    expect(calls).toHaveLength(1);
  });

  it('a flush while another is in flight sends what came since, and waits for both', async () => {
    const { store, calls } = recordingStore();
    const queue = createFillQueue(store);
    queue.add([entry('a')], []);
    const first = queue.flush();
    queue.add([entry('b')], []);
    let secondDone = false;
    const second = queue.flush().then(() => { secondDone = true; });
    expect(calls.map((c) => c.entries.map((e) => e.key))).toEqual([['a'], ['b']]);
    calls[1]!.done();
    await new Promise((resolve) => setImmediate(resolve));
    expect(secondDone).toBe(false); // the earlier batch is still on its way
    calls[0]!.done();
    await Promise.all([first, second]);
    expect(secondDone).toBe(true);
  });
});
