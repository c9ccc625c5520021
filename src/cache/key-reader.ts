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
}

export type KeyReader = DataLoader<KeyRead, KeyReadResult>;

/**
 * One per request: every read-through loader asks its keys from this reader, so all cache lookups
 * issued in the same tick — entity loaders, page loaders, their generation keys and the clock, of
 * every type at one depth of the query — leave as one round trip (each distinct key once), which
 * also takes the leases of the misses. It does not memoise: loaders above it do, and a memo here
 * would hide this request's own invalidations.
 */
export function createKeyReader(store: CacheStore): KeyReader {
  return new DataLoader<KeyRead, KeyReadResult>(async (reads) => {
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
  }, { cache: false });
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
