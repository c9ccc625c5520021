/**
 * Draws ranks 0..n-1 with probability ∝ 1 / (rank + 1)^s (Zipf), by binary search over the
 * cumulative weights: the skewed "hot keys" of a cache workload. Callers map ranks to items.
 */
export function zipfRank(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) cdf[r] = total += 1 / (r + 1) ** s;
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
