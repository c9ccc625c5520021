import type { TestServer } from './test-server.ts';

/** Generation counters of a server's list families, by family name. */
export async function generations(server: TestServer): Promise<Map<string, number>> {
  const keys = await server.keys('*:g:*');
  // One GET per key: on a cluster one MGET may not span slots.
  const values = await Promise.all(keys.map((k) => server.redis.get(k)));
  return new Map(keys.map((k, i) => [k.slice(k.indexOf(':g:') + 3), Number(values[i])]));
}

/** Range bucket tombstones (`<family>:<level>.<index>` → clock) of a server's sorted lists. */
export async function rangeTombstones(server: TestServer): Promise<Map<string, number>> {
  const keys = await server.keys('*:t:{*}:*');
  const values = await Promise.all(keys.map((k) => server.redis.get(k)));
  return new Map(keys.map((k, i) => [k.slice(k.indexOf(':t:{') + 4).replace('}:', ':'), Number(values[i])]));
}

/** The families some of whose range buckets were set between two snapshots, sorted. */
export function reordered(before: Map<string, number>, after: Map<string, number>): string[] {
  const families = new Set([...after].filter(([bucket, clock]) => (before.get(bucket) ?? 0) !== clock).map(([bucket]) => bucket.slice(0, bucket.lastIndexOf(':'))));
  return [...families].sort();
}

/** The families whose generation moved between two snapshots, sorted. */
export function bumped(before: Map<string, number>, after: Map<string, number>): string[] {
  return [...after].filter(([family, gen]) => (before.get(family) ?? 0) !== gen).map(([family]) => family).sort();
}

/** Cached entity keys as `Type:id` (their hash tag without the braces), sorted. */
export async function cachedEntities(server: TestServer): Promise<string[]> {
  return (await server.keys('*:e:*')).map((k) => k.slice(k.indexOf(':e:') + 3).replace(/^\{(.*)\}$/, '$1')).sort();
}

/**
 * Keys present now that were not before: what a request cached. (Keys only disappear by expiry or
 * invalidation — a key list compared whole would count a TTL running out as a change.)
 */
export function added(before: readonly string[], after: readonly string[]): string[] {
  const had = new Set(before);
  return after.filter((k) => !had.has(k));
}
