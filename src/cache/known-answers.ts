import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/**
 * What a process remembers of a stored answer it has seen (saved, or found by a scripted lookup):
 * which build it is and what that build depends on — enough to check it with one plain MGET of
 * the answer and its dependencies, instead of the lookup script (response-store.ts).
 */
export interface KnownAnswer {
  /** How the stored value of exactly this build begins: `{"c":<clock>,"i":"<build id>"`. */
  readonly head: string;
  readonly clock: number;
  /** Tombstone keys: current while absent or not newer than `clock`. */
  readonly tombstones: readonly string[];
  /** Observed tombstones, then generations: [key, value, key, value…], current while unchanged ('' = absent). */
  readonly pairs: readonly string[];
  /** What to read with the answer: the tombstones, then the keys of `pairs`. */
  readonly reads: readonly string[];
}

/** The dependencies line of a stored answer, as saved (response-store.ts). */
export interface AnswerHeader {
  readonly c: number;
  /** The build's id: two builds stored under one key never share it. */
  readonly i?: string;
  readonly t: readonly string[];
  readonly o: readonly string[];
  readonly g: readonly string[];
  readonly r?: readonly string[];
}

/** A fresh build id (8 random bytes): what tells one stored build of an answer from the next. */
export const newBuildId = (): string => randomBytes(8).toString('base64url');

/** How a stored value of that build begins (the header's first two fields, as JSON.stringify writes them). */
export const headOf = (clock: number, id: string): string => `{"c":${clock},"i":${JSON.stringify(id)}`;

/** The known answer of a header, or null for one without a build id (stored by an older version). */
export function knownFromHeader(header: AnswerHeader): KnownAnswer | null {
  if (typeof header.i !== 'string') return null;
  const pairs = [...header.o, ...header.g];
  const reads = [...header.t];
  for (let i = 0; i < pairs.length; i += 2) reads.push(pairs[i]!);
  return { head: headOf(header.c, header.i), clock: header.c, tombstones: header.t, pairs, reads };
}

/**
 * Whether the answer is current, given the values of its `reads`, from `offset` in `values`, read
 * in the same atomic MGET as the answer itself: the lookup script's full check (response-store.ts).
 */
export function knownIsCurrent(known: KnownAnswer, values: readonly (string | null)[], offset: number): boolean {
  const { tombstones, pairs, clock } = known;
  for (let i = 0; i < tombstones.length; i++) {
    const value = values[offset + i];
    if (value != null && Number(value) > clock) return false;
  }
  for (let j = 0; j < pairs.length; j += 2) {
    if ((values[offset + tombstones.length + j / 2] ?? '') !== pairs[j + 1]) return false;
  }
  return true;
}

/** Known answers by key, least recently used dropped first, bounded by their dependency keys in all. */
export function createKnownAnswers(maxKeys: number): LRUCache<string, KnownAnswer> {
  return new LRUCache<string, KnownAnswer>({
    maxSize: maxKeys,
    sizeCalculation: (known) => 1 + known.reads.length,
  });
}
