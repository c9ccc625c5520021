import fc from 'fast-check';
import { bucketsCovering, bucketsOfValue, LEVELS, MAX_SPAN } from '../../src/cache/range-buckets.ts';

const value = fc.oneof(fc.integer({ min: -3_000_000_000, max: 3_000_000_000 }), fc.integer({ min: -50, max: 5000 }));
const bound = fc.oneof(value, fc.constant(Number.NEGATIVE_INFINITY), fc.constant(Number.POSITIVE_INFINITY));

describe('range buckets', () => {
  it('a write of any value inside a range sets a bucket the range depends on', () => {
    fc.assert(fc.property(bound, bound, value, (a, b, v) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      fc.pre(lo <= v && v <= hi);
      const covering = new Set(bucketsCovering(lo, hi));
      return bucketsOfValue(v).some((bucket) => covering.has(bucket));
    }), { numRuns: 5000 });
  });

  it('a range depends on at most MAX_SPAN buckets, all of one level', () => {
    fc.assert(fc.property(bound, bound, (a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const buckets = bucketsCovering(lo, hi);
      const levels = new Set(buckets.map((name) => name.split('.')[0]));
      return buckets.length >= 1 && buckets.length <= MAX_SPAN && levels.size === 1;
    }), { numRuns: 2000 });
  });

  it('a narrow range uses fine buckets, so a write far away leaves it alone', () => {
    // A page of books priced 1200..1260: level 1 (width 16), buckets 75..78.
    expect(bucketsCovering(1200, 1260)).toEqual(['1.75', '1.76', '1.77', '1.78']);
    const far = new Set(bucketsOfValue(9000));
    expect(bucketsCovering(1200, 1260).some((b) => far.has(b))).toBe(false);
  });

  it('an open lower end is covered through the shared bucket of negative values', () => {
    // The first page of an ascending list: everything up to the row after its last one.
    expect(bucketsCovering(Number.NEGATIVE_INFINITY, 600)).toEqual(['2.-1', '2.0', '2.1', '2.2']);
    expect(bucketsOfValue(-2147483648).slice(0, 3)).toEqual(['0.-1', '1.-1', '2.-1']);
  });

  it('an open upper end, or a range too wide for any level, depends on the one top bucket every write sets', () => {
    const top = `${LEVELS}.0`;
    expect(bucketsCovering(5, Number.POSITIVE_INFINITY)).toEqual([top]);
    expect(bucketsCovering(-1, 2 ** 40)).toEqual([top]);
    expect(bucketsCovering(Number.NaN, 5)).toEqual([top]);
    expect(bucketsOfValue(123)).toContain(top);
    expect(bucketsOfValue(123)).toHaveLength(LEVELS + 1);
  });
});
