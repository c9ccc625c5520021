import { hash as cryptoHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { LRUCache } from 'lru-cache';
import { createDependencyRecorder, type Dependencies, type DependencyRecorder } from '../cache/dependencies.ts';
import { newBuildId } from '../cache/known-answers.ts';
import type { Keyspace } from '../cache/keyspace.ts';
import { MAX_FILL_AGE_MS } from '../cache/lifetimes.ts';
import { RESPONSE_MAX_TTL_SECONDS, type ResponseLookup, type ResponseStore, type StaleAnswer, type StoredResponse } from '../cache/response-store.ts';
import { entityName, mayPatch, patchAnswer, type EntityUses, type PatchRecorder } from '../graphql/answer-patch.ts';
import { readOperationRequest } from './operation-request.ts';
import type { RequestScope } from './request-scope.ts';

export const RESPONSE_CACHE_HEADER = 'x-response-cache';

/** One request's use of the whole-response cache, from lookup to (maybe) save. */
export interface ResponseCachePlan {
  /** Where a PUBLIC answer lives, and (signed in) where this viewer's PRIVATE answer lives. */
  readonly publicKey: string;
  readonly privateKey: string | null;
  /** The epoch the keys were computed in: an answer built across a bump is not stored. */
  readonly epoch: number;
  /** The operation's text as hex SHA-256 (OperationRequest.queryHash): which query, for observers. */
  readonly queryHash: string;
  /** Told by the loaders what the answer is built from. */
  readonly recorder: DependencyRecorder;
  /** Set by the Apollo plugin when the answer may be stored: under which key, for how long. */
  save?: { key: string; maxAge: number; scope: 'PUBLIC' | 'PRIVATE'; dependencies: Dependencies; firstReadAt: number };
  /** Set when this request builds the answer others in this process wait for: call once it is stored (or not). */
  release?: () => void;
  /** The store's mark on this request's missed lookup, given back with the save (ResponseLookup.mark). */
  mark?: number;
  /** What the stale answer this request rebuilds was built from, as the lookup found it (ResponseLookup.snapshot). */
  snapshot?: ReadonlyMap<string, string | null>;
  /** With patches on, once the operation runs: where the entity rows' fields go in the answer (answer-patch.ts). */
  patch?: PatchRecorder;
}

export interface ResponseCacheObserver {
  /** `queryHash`: see ResponseCachePlan (benchmarks tell their queries apart by it; metrics do not). */
  lookup?(result: ResponseLookup['kind'], queryHash: string): void;
  saved?(): void;
  /** A miss waited for an identical request building its answer: then hit (served) or not (built). */
  followed?(outcome: 'served' | 'built'): void;
  /** A stale answer was rebuilt by patching its changed rows' fields (not by running the operation). */
  patched?(): void;
  /** A stale answer only tombstones made stale was not patched, and why (it was rebuilt by running its operation). */
  patchRefused?(reason: PatchRefusal): void;
}

/**
 * Why a stale answer whose list generations were unchanged was not patched: this process kept no
 * recording of that answer (none was made: a PRIVATE answer, or no entity row outside a list; or
 * it was evicted), or of another build of it (another process built the one stored); a tombstone that moved is not
 * an entity's (a range bucket: rows may have moved); a changed row's type had rows in a list, or
 * the answer shows no recorded field of it; its rows could not be read; the patch does not apply
 * (a row is gone, a field of its own read a changed column) or the epoch moved meanwhile.
 */
export type PatchRefusal = 'not_recorded' | 'other_build' | 'not_an_entity' | 'listed_or_unrecorded' | 'read_failed' | 'does_not_apply';

/** Patching stale answers instead of running their operation again (answer-patch.ts). */
export interface AnswerPatches {
  /**
   * Reads these entities' rows again, through the request's loaders (the stale answer's snapshot,
   * the request's fills): null for a row that is gone. `type` is the loader's entity type.
   */
  load(entities: readonly { readonly type: string; readonly id: string }[]): Promise<readonly (Record<string, unknown> | null)[]>;
  /** Sends the fills the loads queued (with the patched answer's save: one socket write). */
  flushFills(): Promise<void>;
  /** Answers whose recording is kept, in recorded fields (least recently used dropped first). */
  readonly maxFields?: number;
}

export interface ResponseCache {
  /**
   * The plan for a GraphQL request, or null when it cannot be answered from the cache (not a GET
   * or JSON POST of one operation, a traced request, Apollo would refuse it). `viewer` is the
   * verified account id, null for anonymous requests.
   */
  plan(req: IncomingMessage, body: unknown, viewer: number | null): ResponseCachePlan | null;
  /** Looks the plan's keys up (one round trip) and, on a hit, sends the stored answer: true if sent. */
  serve(plan: ResponseCachePlan, req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Stores the answer Apollo sent, if the plugin found it cacheable. */
  finish(plan: ResponseCachePlan, body: string): Promise<void>;
  /** Decides, once the operation has run, whether its answer may be stored (see ResponseCachePlan.save). */
  plugin(): ApolloServerPlugin;
}

/**
 * The whole-response cache: answers a repeated query without running it, and never with data that
 * has changed. Each stored answer records what it was built from (the loaders' clock reading,
 * entity tombstones, list generations — see cache/dependencies.ts) and is served only while all of
 * that is current, checked inside Redis in the lookup's one round trip. Writers do nothing extra:
 * the evictions they already make are what makes an answer stale, so one write invalidates exactly
 * the answers that used what it changed — no TTL-only staleness, no flush per type, no SCAN.
 *
 * Keys: the operation (SHA-256 of its text, which is also its APQ hash), its name and variables; a
 * PRIVATE answer also names the viewer. The response's cache policy (Apollo's rules, see
 * cache-control-plugin.ts) decides cacheability (maxAge 0, errors, mutations: never stored).
 */
export function createResponseCache(options: {
  readonly store: ResponseStore;
  readonly keyspace: Keyspace;
  readonly epoch: () => number;
  readonly scope: RequestScope;
  readonly observer?: ResponseCacheObserver;
  /** How long a request that missed waits at most for an identical one already building its answer. */
  readonly followerWaitMs?: number;
  /**
   * How long an answer is kept at least, whatever its maxAge (the store caps it at
   * RESPONSE_MAX_TTL_SECONDS); 0, the default: its maxAge. See ServerConfig.responseCacheTtlSeconds.
   */
  readonly retentionSeconds?: number;
  /** Patch stale answers whose only change is some entity rows (answer-patch.ts); absent: always run the operation. */
  readonly patches?: AnswerPatches;
}): ResponseCache {
  const { store, keyspace, epoch, scope, observer = {}, followerWaitMs = 500, retentionSeconds = 0, patches } = options;
  // What each stored answer's build recorded of its entity rows, by answer key: a patch needs the
  // recording of exactly the build it finds stale.
  const recorded = patches ? new LRUCache<string, { readonly build: string; readonly recorded: EntityUses }>({
    maxSize: patches.maxFields ?? DEFAULT_PATCH_MAX_FIELDS,
    sizeCalculation: ({ recorded: { uses } }) => 1 + uses.length,
  }) : null;
  // Answers being built in this process, by lookup key: requests for the same answer that miss
  // meanwhile wait for it instead of building it too (a written hot answer is asked for by many
  // requests at once). A follower then looks the answer up again, and the lookup checks it against
  // everything it was built from, exactly as for any stored answer: a write acknowledged before
  // the follower started has invalidated it, and the follower builds its own. So waiting can cost
  // a follower time, never freshness.
  const building = new Map<string, Promise<void>>();

  const lookup = (plan: ResponseCachePlan): Promise<ResponseLookup> =>
    store.lookup(plan.privateKey ? [plan.privateKey, plan.publicKey] : [plan.publicKey]);

  /** Makes this request the builder of its answer; others that miss wait for release(). */
  function lead(plan: ResponseCachePlan, res: ServerResponse, flight: string): void {
    let done!: () => void;
    building.set(flight, new Promise<void>((resolve) => { done = resolve; }));
    plan.release = () => {
      plan.release = undefined;
      building.delete(flight);
      done();
    };
    // Whatever happens to the request (an error, a client gone), its followers are let go.
    res.once('close', () => plan.release?.());
  }

  /**
   * Stores an answer built (or patched) for `plan` under `key`, and what its build recorded of its
   * rows (`uses`, for a PUBLIC answer). The recording is kept as the save is sent, not when it is
   * answered: saves reach Redis in the order they are sent, so the recording kept is the build
   * Redis holds — and a lookup whose reply is read with the save's sees both (kept after the
   * answer, a lookup processed in between found the new build and the old recording). A save
   * that fails leaves a recording of a build no one stores: never used.
   */
  async function storeAnswer(
    plan: ResponseCachePlan, key: string, answer: Pick<StoredResponse, 'body' | 'maxAge' | 'scope'>, dependencies: Dependencies, uses: EntityUses | undefined,
  ): Promise<void> {
    const ttl = Math.min(Math.max(answer.maxAge, retentionSeconds), RESPONSE_MAX_TTL_SECONDS);
    const storedAt = Date.now();
    const build = newBuildId();
    if (recorded && uses && uses.uses.length > 0 && answer.scope === 'PUBLIC') recorded.set(key, { build, recorded: uses });
    const stored = await store.save(key, { ...answer, storedAt, expiresAt: storedAt + ttl * 1000 }, dependencies, ttl, { mark: plan.mark, build });
    if (stored) observer.saved?.();
  }

  /**
   * Rebuilds a stale PUBLIC answer by patching (answer-patch.ts) and sends it: true when it did.
   * Only when every tombstone that moved is an entity's (no range bucket; the lookup already
   * refused moved generations), this process recorded the stale build, and the patch applies.
   * Stored before it is sent, as an executed answer is.
   */
  async function sendPatched(plan: ResponseCachePlan, stale: StaleAnswer, contentType: string, res: ServerResponse): Promise<'sent' | PatchRefusal | null> {
    if (!patches) return null;
    const refuse = (reason: PatchRefusal) => {
      observer.patchRefused?.(reason);
      return reason;
    };
    const entry = recorded?.get(stale.key);
    if (!entry || stale.key !== plan.publicKey || stale.response.scope !== 'PUBLIC') return refuse('not_recorded');
    if (entry.build !== stale.build) return refuse('other_build');
    const entities = stale.changed.map((key) => keyspace.entityOfTombstone(key));
    if (entities.length === 0 || entities.some((entity) => entity === null)) return refuse('not_an_entity');
    // Refused before any row is read: a refused patch costs the rebuild nothing.
    if (!mayPatch(entry.recorded, entities as { type: string; id: string }[])) return refuse('listed_or_unrecorded');
    let rows: readonly (Record<string, unknown> | null)[];
    try {
      rows = await patches.load(entities as { type: string; id: string }[]);
    } catch {
      return refuse('read_failed');
    }
    const patched = patchAnswer(stale.response.body, entry.recorded, new Map(entities.map((entity, i) => [entityName(entity!.type, entity!.id), rows[i] ?? null])));
    if (!patched || epoch() !== plan.epoch) return refuse('does_not_apply');
    const { maxAge, scope: policyScope } = stale.response;
    await Promise.all([storeAnswer(plan, stale.key, { body: patched.body, maxAge, scope: policyScope }, stale.dependencies, patched.recorded), patches.flushFills()]);
    observer.patched?.();
    // A rebuild (MISS), with the headers its stored answer gets on a hit: the same cache policy.
    sendAnswer({ body: patched.body, maxAge, scope: policyScope }, contentType, res, 'MISS');
    plan.release?.();
    return 'sent';
  }

  /**
   * This request rebuilds what its lookup `found` missed: true when it sent the answer (a patch,
   * or a current answer found again), false when the operation must run. A stale build other than
   * the one this process last recorded is mostly one it has just replaced — the lookup's reply was
   * read after that save was sent —, so the answer is looked up once more, and served if current.
   */
  async function rebuild(plan: ResponseCachePlan, found: ResponseLookup, contentType: string, res: ServerResponse, retried = false): Promise<boolean> {
    if (found.kind === 'hit') return false;
    plan.mark = found.mark; // this request builds the answer: its reads come after this lookup
    if (found.kind !== 'unavailable') plan.snapshot = found.snapshot;
    if (found.kind !== 'invalidated' || !found.stale) return false;
    const outcome = await sendPatched(plan, found.stale, contentType, res);
    if (outcome !== 'other_build' || retried) return outcome === 'sent';
    const again = await lookup(plan);
    if (again.kind === 'hit') {
      sendAnswer(again.response, contentType, res, 'HIT');
      plan.release?.();
      return true;
    }
    return rebuild(plan, again, contentType, res, true);
  }

  /**
   * Sends a stored (or patched) answer. No `Age`: it was just checked against everything it was
   * built from, so it is as current as one built now (RFC 9111: an Age means the origin did not
   * validate it for this request), and a downstream cache may keep it for its whole max-age — also
   * when it has been stored for longer than that (retentionSeconds).
   */
  function sendAnswer(answer: Pick<StoredResponse, 'body' | 'maxAge' | 'scope'>, contentType: string, res: ServerResponse, cache: 'HIT' | 'MISS'): void {
    res.statusCode = 200;
    res.setHeader('content-type', contentType);
    res.setHeader('cache-control', `max-age=${answer.maxAge}, ${answer.scope.toLowerCase()}`);
    res.setHeader(RESPONSE_CACHE_HEADER, cache);
    res.end(answer.body);
  }

  return {
    plan(req, body, viewer) {
      if (scope.getStore()?.trace) return null; // a traced request must show its real cache work
      const operation = readOperationRequest(req, body);
      if (!operation) return null;
      const hash = cryptoHash('sha256', `${operation.queryHash}\n${operation.operationName ?? ''}\n${operation.variables}`, 'base64url');
      return {
        publicKey: keyspace.response(hash),
        privateKey: viewer === null ? null : keyspace.response(hash, `a${viewer}`),
        epoch: epoch(),
        queryHash: operation.queryHash,
        recorder: createDependencyRecorder(),
      };
    },

    async serve(plan, req, res) {
      const contentType = acceptedContentType(req.headers.accept);
      if (!contentType) return false; // Apollo answers 406 itself
      // A signed-in viewer's own answer first: a query whose answer was PUBLIC is stored only once.
      let found = await lookup(plan);
      if (found.kind === 'absent' || found.kind === 'invalidated') {
        const flight = plan.privateKey ?? plan.publicKey;
        const leader = building.get(flight);
        if (!leader) {
          observer.lookup?.(found.kind, plan.queryHash);
          lead(plan, res, flight);
          return rebuild(plan, found, contentType, res);
        }
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([leader, new Promise<void>((resolve) => { timer = setTimeout(resolve, followerWaitMs); })]);
        clearTimeout(timer);
        found = await lookup(plan);
        observer.followed?.(found.kind === 'hit' ? 'served' : 'built');
      }
      // One result per request, its last: a follower served after waiting counts as a hit, not as
      // a miss and then a hit.
      observer.lookup?.(found.kind, plan.queryHash);
      if (found.kind !== 'hit') return rebuild(plan, found, contentType, res);
      sendAnswer(found.response, contentType, res, 'HIT');
      return true;
    },

    async finish(plan, body) {
      const { save } = plan;
      try {
        if (!save) return;
        // Built across an epoch bump, or from reads so old their tombstones may be gone: drop it.
        if (epoch() !== plan.epoch || performance.now() - save.firstReadAt > MAX_FILL_AGE_MS) return;
        // With what the build recorded of its rows: a later patch of this build needs it.
        await storeAnswer(plan, save.key, { body, maxAge: save.maxAge, scope: save.scope }, save.dependencies, plan.patch);
      } finally {
        plan.release?.();
      }
    },

    plugin() {
      return {
        async requestDidStart() {
          return {
            async willSendResponse({ operation, response, overallCachePolicy }) {
              const plan = scope.getStore()?.responseCache;
              if (!plan || operation?.operation !== 'query' || response.body.kind !== 'single') return;
              if ((response.body.singleResult.errors?.length ?? 0) > 0) return;
              const policy = overallCachePolicy.policyIfCacheable();
              if (!policy) return;
              // PRIVATE without a viewer has no owner to be stored for (Apollo's plugin agrees).
              const key = policy.scope === 'PRIVATE' ? plan.privateKey : plan.publicKey;
              if (!key) return;
              const recorded = plan.recorder.result();
              if ('refused' in recorded) return;
              plan.save = { key, maxAge: policy.maxAge, scope: policy.scope, ...recorded };
            },
          };
        },
      };
    },
  };
}

/** Recorded fields kept by default, over all answers (≈ 100–200 bytes each). */
const DEFAULT_PATCH_MAX_FIELDS = 200_000;

/** The content type Apollo would choose for this Accept header, or null when it would refuse (406). */
function acceptedContentType(accept: string | undefined): string | null {
  if (!accept) return 'application/json; charset=utf-8';
  // Clients that name the GraphQL-over-HTTP type prefer it (Apollo's negotiation picks it too).
  if (/application\/graphql-response\+json/i.test(accept)) return 'application/graphql-response+json; charset=utf-8';
  if (/application\/json|\*\/\*|application\/\*/i.test(accept)) return 'application/json; charset=utf-8';
  return null;
}
