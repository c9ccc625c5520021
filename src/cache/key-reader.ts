import { randomBytes } from 'node:crypto';
import DataLoader from 'dataloader';
import type { CacheStore, LookupLeaseResult, LookupRead } from './cache-store.ts';

/** A key to read, and if it holds no value: the lease to take, or the value to create it at (CacheStore.lookup). */
export interface KeyRead {
  readonly key: string;
  readonly lease?: { readonly key: string; readonly ttlMs: number };
  readonly initial?: string;
}

export interface KeyReadResult {
  readonly value: string | null;
  /** For a read with a lease: what the lookup did with it; `token` is the lease's when `acquired`. */
  readonly lease?: LookupLeaseResult;
  readonly token?: string;
  /** Answered by a rebuild's snapshot (no round trip): an absent value is loaded without a lease. */
  readonly fromSnapshot?: true;
}

export type KeyReader = DataLoader<KeyRead, KeyReadResult>;

/**
 * One per request: every read-through loader asks its keys from this reader, so all cache lookups
 * issued in the same tick — entity loaders, page loaders, their generation keys and the clock, of
 * every type at one depth of the query — leave as one round trip (each distinct key once), which
 * also takes the leases of the misses. It does not memoise: loaders above it do, and a memo here
 * would hide this request's own invalidations.
 *
 * `snapshot` (a rebuild's: ResponseLookup.snapshot) answers the keys it holds without a round trip,
 * as they were when the lookup read them all in one atomic script, before this request read
 * anything else — the clock with them, so a batch answered from it is versioned as of that read
 * (fills and the answer's dependencies alike). Only keys it does not hold go to the store. A key
 * it holds as absent is loaded from the database without a lease (`fromSnapshot`): taking one
 * would cost the rebuild a round trip for what the versioned fill already makes safe, and the
 * herd it guards against is small here — concurrent rebuilds of one answer in a process are one
 * (the response cache's single flight), so each process reads such a row at most once (DESIGN.md:
 * "others wait briefly or read the DB once"). A query does not invalidate anything, so no own
 * invalidation can be hidden by the snapshot.
 */
export function createKeyReader(store: CacheStore, snapshot?: ReadonlyMap<string, string | null>): KeyReader {
  return new DataLoader<KeyRead, KeyReadResult>(async (reads) => {
    if (snapshot && reads.some((read) => snapshot.has(read.key))) {
      const rest = reads.filter((read) => !snapshot.has(read.key));
      const fetched = rest.length > 0 ? await readFromStore(store, rest) : [];
      let next = 0;
      return reads.map((read) => (snapshot.has(read.key) ? { value: snapshot.get(read.key) ?? null, fromSnapshot: true } : fetched[next++]!));
    }
    return readFromStore(store, reads);
  }, { cache: false });
}

/** One lookup round trip for `reads` (each distinct key once). */
async function readFromStore(store: CacheStore, reads: readonly KeyRead[]): Promise<KeyReadResult[]> {
  const index = new Map<string, number>();
  const unique: LookupRead[] = [];
  const batch = nextLeaseToken();
  for (const { key, lease, initial } of reads) {
    let i = index.get(key);
    if (i === undefined) {
      index.set(key, (i = unique.length));
      unique.push({ key });
    }
    // Two reads of one key with a lease (rare: two loaders of one entity) share it, and both fill.
    const read = unique[i]!;
    if (lease && !read.lease) unique[i] = { ...read, lease: { key: lease.key, token: `${batch}.${i}`, ttlMs: lease.ttlMs } };
    else if (initial !== undefined && read.initial === undefined && !read.lease) unique[i] = { ...read, initial };
  }
  const found = await store.lookup(unique);
  return reads.map(({ key, lease }) => {
    const i = index.get(key)!;
    const value = found.values[i] ?? null;
    if (!lease) return { value };
    const result = found.leases[i] ?? 'skipped';
    return result === 'acquired' ? { value, lease: result, token: unique[i]!.lease!.token } : { value, lease: result };
  });
}

/**
 * Lease tokens: unique across processes (a random prefix drawn once) and within one (a counter),
 * without asking the OS for randomness on every batch.
 */
const TOKEN_PREFIX = randomBytes(8).toString('hex');
let tokenCounter = 0;
export function nextLeaseToken(): string {
  tokenCounter = (tokenCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${TOKEN_PREFIX}${tokenCounter.toString(36)}`;
}
