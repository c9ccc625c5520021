/**
 * Every Redis key the cache uses is built here, and nowhere else.
 *
 * Layout (`p` is the configured prefix, `n` the current epoch):
 *   p:epoch                 the epoch counter itself (never inside an epoch)
 *   p:feed:alive            heartbeat of the database change listeners (never inside an epoch)
 *   p:n:e:<Type>:<id>       one entity (or small per-entity aggregate) — deleted on change
 *   p:n:g:<family>          generation counter of a list family — INCR'd on change, never expires
 *   p:n:p:<family>:<args>   one cached page of that family; its value records the generation it
 *                           was built under, so a page from an older generation is a miss
 *   p:n:clock               the invalidation clock: INCR'd by every invalidation, read by every batch
 *   p:n:t:<Type>:<id>       an entity's tombstone: the clock of its last invalidation (short TTL);
 *                           a fill is dropped when the tombstone is newer than the filler's read
 *   p:n:l:e:… / p:n:l:p:…   fill leases of an entity or a page: one filler per miss, others wait
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
  entityLease(type: string, id: string | number): string;
  pageLease(family: string, variant: string): string;
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

export function createKeyspace(prefix: string, currentEpoch: () => number): Keyspace {
  assertPart('prefix', prefix);
  const ns = () => `${prefix}:${currentEpoch()}`;
  return {
    prefix,
    entity: (type, id) => `${ns()}:e:${assertPart('entity type', type)}:${assertPart('entity id', String(id))}`,
    generation: (family) => `${ns()}:g:${assertPart('family', family)}`,
    page: (family, variant) => `${ns()}:p:${assertPart('family', family)}:${assertPart('page variant', variant)}`,
    clock: () => `${ns()}:clock`,
    tombstone: (type, id) => `${ns()}:t:${assertPart('entity type', type)}:${assertPart('entity id', String(id))}`,
    entityLease: (type, id) => `${ns()}:l:e:${assertPart('entity type', type)}:${assertPart('entity id', String(id))}`,
    pageLease: (family, variant) => `${ns()}:l:p:${assertPart('family', family)}:${assertPart('page variant', variant)}`,
  };
}
