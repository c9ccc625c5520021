import type { Dependencies } from '../../src/cache/dependencies.ts';
import type { Keyspace } from '../../src/cache/keyspace.ts';
import { bucketsOfValue } from '../../src/cache/range-buckets.ts';

/** The generation of the books.TITLE family the answer below was built under (a test sets it in Redis). */
export const TITLE_GENERATION = '3';

/**
 * What the response-store tests' answer is built from: book 1 (read from the database), author 7
 * (read from the cache, no tombstone then), a page of the books.TITLE family at TITLE_GENERATION,
 * and a PRICE page covering the range bucket of price 1234 (no tombstone then). Clock 0: built
 * before any invalidation.
 */
export function answerDependencies(ks: Keyspace): Dependencies {
  return {
    clock: 0, tombstones: [ks.tombstone('Book', 1)],
    observed: [ks.tombstone('Author', 7), '', ks.rangeTombstone('books.PRICE', bucketsOfValue(1234)[0]!), ''],
    generations: [ks.generation('books.TITLE'), TITLE_GENERATION],
  };
}
