import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { dependencyKeys } from './dependencies.ts';

/** A stored answer's dependency check, done by the client: what to read, and what to compare. */
export interface AnswerCheck {
  readonly clock: number;
  /** Tombstone keys: current while absent or not newer than `clock`. */
  readonly tombstones: readonly string[];
  /** Observed tombstones, then generations: [key, value, key, value…], current while unchanged ('' = absent). */
  readonly pairs: readonly string[];
  /** What to read: the tombstones, then the keys of `pairs` (dependencyKeys' order). */
  readonly reads: readonly string[];
}

/**
 * What a process remembers of a stored answer it has seen (saved, or found by a scripted lookup):
 * which build it is and what that build depends on — enough to check it with one plain MGET of
 * the answer and its dependencies, instead of the lookup script (response-store.ts).
 */
export interface KnownAnswer extends AnswerCheck {
  /** How the stored value of exactly this build begins: `{"c":<clock>,"i":"<build id>"`. */
  readonly head: string;
  /** The value and page keys its loaders read (Dependencies.reads): a rebuild's snapshot reads them. */
  readonly loaderReads: readonly string[];
  /** The build's id (AnswerHeader.i). */
  readonly build: string;
  /** The dependencies line it was stored with (a patched answer is stored with the same keys). */
  readonly header: AnswerHeader;
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

/** This process's part of every build id it makes: 9 random bytes, drawn once. */
const PROCESS_PART = randomBytes(9).toString('base64url');
let builds = 0;

/**
 * A fresh build id: what tells one stored build of an answer from the next. Unique per process (a
 * counter) and across processes (a random part drawn at start-up), without drawing random bytes
 * per save (a system call's worth of CPU, on the path of every stored answer).
 */
export const newBuildId = (): string => `${PROCESS_PART}${(builds++).toString(36)}`;

/** How a stored value of that build begins (the header's first two fields, as JSON.stringify writes them). */
export const headOf = (clock: number, id: string): string => `{"c":${clock},"i":${JSON.stringify(id)}`;

/** The check of a stored answer, from its dependencies line. */
export function checkOf(header: AnswerHeader): AnswerCheck {
  const { c: clock, t: tombstones, o: observed, g: generations } = header;
  return { clock, tombstones, pairs: [...observed, ...generations], reads: dependencyKeys({ clock, tombstones, observed, generations }) };
}

/** The known answer of a header, or null for one without a build id (stored by an older version). */
export function knownFromHeader(header: AnswerHeader): KnownAnswer | null {
  return typeof header.i === 'string' ? { ...checkOf(header), head: headOf(header.c, header.i), loaderReads: header.r ?? [], build: header.i, header } : null;
}

/**
 * Whether the answer is current, given the values of its `reads`, from `offset` in `values`: the
 * lookup script's full check (response-store.ts), done by the client. Read in the same atomic MGET
 * as the answer, it is the script's; read after it (a cluster), it is as of that later read.
 */
export function checkPasses(check: AnswerCheck, values: readonly (string | null)[], offset: number): boolean {
  const { tombstones, pairs, clock } = check;
  for (let i = 0; i < tombstones.length; i++) {
    const value = values[offset + i];
    if (value != null && Number(value) > clock) return false;
  }
  for (let j = 0; j < pairs.length; j += 2) {
    if ((values[offset + tombstones.length + j / 2] ?? '') !== pairs[j + 1]) return false;
  }
  return true;
}

/** Known answers by key, least recently used dropped first, bounded by the keys they name in all. */
export function createKnownAnswers(maxKeys: number): LRUCache<string, KnownAnswer> {
  return new LRUCache<string, KnownAnswer>({
    maxSize: maxKeys,
    sizeCalculation: (known) => 1 + known.reads.length + known.loaderReads.length,
  });
}
