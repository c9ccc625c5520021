/**
 * Every Redis key the cache uses is built here, and nowhere else.
 *
 * Layout (`p` is the configured prefix, `n` the current epoch; `{…}` is a Redis Cluster hash tag):
 *   p:epoch                   the epoch counter itself (never inside an epoch)
 *   p:feed:alive              heartbeat of the database change listeners (never inside an epoch)
 *   p:pq:apq:<sha256>         an automatic persisted query's text (never inside an epoch: never stale)
 *   p:n:e:{<Type>:<id>}       one entity (or small per-entity aggregate) — deleted on change
 *   p:n:g:<family>            generation counter of a list family — INCR'd on change, never expires
 *   p:n:p:{<family>:<args>}   one cached page of that family; its value records the generation it
 *                             was built under, so a page from an older generation is a miss
 *   p:n:clock                 the invalidation clock: INCR'd by every invalidation (a missing one restarts
 *                             at Redis's time in µs, see redis-store.ts), read by every batch
 *   p:n:t:{<Type>:<id>}       an entity's tombstone: the clock of its last invalidation (short TTL);
 *                             a fill is dropped when the tombstone is newer than the filler's read
 *   p:n:t:{<family>}:<bucket> a range bucket's tombstone (range-buckets.ts): the clock of the last
 *                             write that moved a row of a sorted family into or out of the bucket;
 *                             a page covering the bucket is served only while it is not newer than
 *                             the clock read before the page was built
 *   p:n:l:e:{…} / p:n:l:p:{…} fill leases of an entity or a page (same tag as what they guard):
 *                             one filler per miss, others wait
 *   p:n:r:{<hash>}[:<viewer>] one whole serialized response and what it was built from (clock,
 *                             tombstones, generations): served only while all of those are current
 *
 * Hash tags (the same in a single Redis, where they mean nothing): a cluster hashes only the text
 * between the braces, so an entity's value, tombstone and lease share one slot, as do a page and
 * its lease. That is what every Lua script (FILL reads value, tombstone, lease; RELEASE one lease)
 * and every ordered sequence (tombstone, then DEL of value and lease) needs to run on one node.
 * The tag leaves out prefix and epoch on purpose: the same entity of every epoch lives on one
 * node, while different entities and pages spread over the cluster. Generation, clock, epoch and
 * heartbeat keys are only ever used alone (a lookup reads them with other keys, but grouped per
 * slot, see cluster-commands.ts), so they carry no tag.
 *
 * Bumping the epoch makes every key of the previous epoch unreachable at once (they expire by TTL),
 * which is how lost invalidations are repaired without SCAN, KEYS or pattern deletes.
 */
export interface Keyspace {
  readonly prefix: string;
  entity(type: string, id: string | number): string;
  generation(family: string): string;
  page(family: string, variant: string): string;
  clock(): string;
  tombstone(type: string, id: string | number): string;
  /** The tombstone of one range bucket (`<level>.<index>`, see range-buckets.ts) of a sorted family. */
  rangeTombstone(family: string, bucket: string): string;
  entityLease(type: string, id: string | number): string;
  pageLease(family: string, variant: string): string;
  /** A whole response: `hash` names operation and variables, `viewer` the account of a PRIVATE one. */
  response(hash: string, viewer?: string): string;
  /** The entity whose tombstone (in the current epoch) `key` is; null for any other key (a range bucket's tombstone too). */
  entityOfTombstone(key: string): { readonly type: string; readonly id: string } | null;
}

const SAFE_PART = /^[A-Za-z0-9_.:=|,\-]+$/;

function assertPart(what: string, value: string): string {
  if (value.length === 0 || !SAFE_PART.test(value)) {
    throw new TypeError(`Keyspace: ${what} must be a non-empty string of [A-Za-z0-9_.:=|,-], got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The key holding the epoch counter: outside every epoch, so bumping it is always possible. */
export function epochKey(prefix: string): string {
  return `${assertPart('prefix', prefix)}:epoch`;
}

/** The pub/sub channel on which a bumped epoch is announced to every process sharing the cache. */
export function epochChannel(prefix: string): string {
  return `${assertPart('prefix', prefix)}:epoch-changed`;
}

/**
 * The pub/sub channel on which every invalidation lists the keys it evicted and the generations it
 * bumped (space-separated), so that processes with an in-process tier drop their copies.
 */
export function invalidatedChannel(prefix: string): string {
  return `${assertPart('prefix', prefix)}:invalidated`;
}

/**
 * Heartbeat of the database change listeners: while one is listening it keeps this key alive
 * (short PX TTL, refreshed every second). A listener starting up finds it present only if another
 * one is still watching, in which case no change can have been missed and the cache is kept.
 * Outside every epoch, like the epoch itself.
 */
export function feedAliveKey(prefix: string): string {
  return `${assertPart('prefix', prefix)}:feed:alive`;
}

/**
 * A persisted query's text by its APQ key (Apollo's `apq:<sha256>`): outside every epoch, since a
 * query text never goes stale; shared by all instances.
 */
export function persistedQueryKey(prefix: string, key: string): string {
  return `${assertPart('prefix', prefix)}:pq:${assertPart('persisted query key', key)}`;
}

export function createKeyspace(prefix: string, currentEpoch: () => number): Keyspace {
  assertPart('prefix', prefix);
  const ns = () => `${prefix}:${currentEpoch()}`;
  // SAFE_PART excludes braces, so a part can never open or close a tag of its own.
  const entityTag = (type: string, id: string | number) =>
    `{${assertPart('entity type', type)}:${assertPart('entity id', String(id))}}`;
  const pageTag = (family: string, variant: string) => `{${assertPart('family', family)}:${assertPart('page variant', variant)}}`;
  return {
    prefix,
    entity: (type, id) => `${ns()}:e:${entityTag(type, id)}`,
    generation: (family) => `${ns()}:g:${assertPart('family', family)}`,
    page: (family, variant) => `${ns()}:p:${pageTag(family, variant)}`,
    clock: () => `${ns()}:clock`,
    tombstone: (type, id) => `${ns()}:t:${entityTag(type, id)}`,
    rangeTombstone: (family, bucket) => `${ns()}:t:{${assertPart('family', family)}}:${assertPart('range bucket', bucket)}`,
    entityLease: (type, id) => `${ns()}:l:e:${entityTag(type, id)}`,
    pageLease: (family, variant) => `${ns()}:l:p:${pageTag(family, variant)}`,
    response: (hash, viewer) => `${ns()}:r:{${assertPart('response hash', hash)}}${viewer === undefined ? '' : `:${assertPart('viewer', viewer)}`}`,
    entityOfTombstone(key) {
      const head = `${ns()}:t:{`;
      if (!key.startsWith(head) || !key.endsWith('}')) return null; // a range bucket's ends with its bucket
      const tag = key.slice(head.length, -1);
      const colon = tag.indexOf(':');
      return colon > 0 ? { type: tag.slice(0, colon), id: tag.slice(colon + 1) } : null;
    },
  };
}
