import type { CacheEntry, CacheStore } from './cache-store.ts';

type Release = { readonly key: string; readonly token: string };

/** One request's queued cache writes (see ReadThroughOptions.fills). */
export interface FillQueue {
  /** Queues entries and releases; `written` runs once they were sent (stored, refused or dropped). */
  add(entries: readonly CacheEntry[], releases: readonly Release[], written?: () => void): void;
  /** Sends everything queued so far in one `setMany` (one round trip) and waits for it. Never rejects. */
  flush(): Promise<void>;
}

/**
 * One request's cache writes, sent together: every loader of the request queues its fills here, and
 * the request flushes them once, before it answers (so that "answered" still means "cached" for the
 * client's next request) — one round trip for all of them, leaving in the same socket write as the
 * answer's own save, instead of one per loader batch as each database read comes back.
 *
 * What waits meanwhile: a lease is released by its fill, so a concurrent miss elsewhere on one of
 * these keys polls until the request flushes (milliseconds later than a fill sent at once); a fill
 * is still versioned by the clock its batch read, so its delay cannot let stale data in. The
 * request must flush on every path, errors included (the server does it when the response closes):
 * a queue never flushed would hold its leases until they expire. And a request never waits for
 * another's lease while it holds leases of its own in the queue: a loader about to wait flushes
 * first (read-through-loader.ts), or two requests could each wait for the other's fill until their
 * waits time out (hold and wait: measured, 1–2 s stalls of the whole Q3 mix).
 */
export function createFillQueue(store: CacheStore): FillQueue {
  let entries: CacheEntry[] = [];
  let releases: Release[] = [];
  let written: (() => void)[] = [];
  let sending: Promise<void> = Promise.resolve();

  return {
    add(more, moreReleases, done) {
      entries.push(...more);
      releases.push(...moreReleases);
      if (done) written.push(done);
    },
    flush() {
      if (entries.length === 0 && releases.length === 0) return sending;
      const batch = { entries, releases, written };
      entries = [];
      releases = [];
      written = [];
      // After an earlier flush still in flight: the caller waits for everything queued before it.
      sending = Promise.all([sending, store.setMany(batch.entries, batch.releases)]).then(() => {
        for (const done of batch.written) done();
      });
      return sending;
    },
  };
}
