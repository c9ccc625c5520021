import type { SqlEntityManager } from '@mikro-orm/sql';
import type { Logger } from 'pino';
import type { Tokens } from '../auth/tokens.ts';
import type { Invalidator } from '../cache/invalidator.ts';
import type { AccountRow } from '../catalog/rows.ts';
import type { OwnCommits } from '../orm/change-feed/own-commits.ts';
import type { TtlOf } from './cache-policy.ts';
import type { Loaders } from './loaders/create-loaders.ts';

/** Per-request context: a forked EntityManager, the request's loaders, the shared invalidator. */
export interface GraphQLContext {
  readonly em: SqlEntityManager;
  readonly loaders: Loaders;
  readonly invalidator: Invalidator;
  /** Echoed in the `x-request-id` response header; a caller's own id when it sent a sane one. */
  readonly requestId: string;
  /** The server's logger bound to `requestId`: what a resolver logs can be found by request. */
  readonly log: Logger;
  /**
   * The bearer token's account; null or absent for an anonymous request (a bad token never gets
   * this far). Optional, like `tokens`, for contexts built outside createApp (bench/'s baseline).
   */
  readonly viewer?: Viewer | null;
  /** Signs the tokens signUp and logIn hand out; absent: this server issues none. */
  readonly tokens?: Tokens;
  /**
   * Where a mutation may write the rows it commits into the cache, in its own invalidation: while
   * the change feed recognises this process's commits (PostgreSQL, listening; own-commits.ts),
   * which it then does not invalidate again. Absent: every write only invalidates.
   */
  readonly writeThrough?: { readonly ownCommits: OwnCommits; readonly ttlOf: TtlOf } | null;
}

export interface Viewer {
  readonly accountId: number;
  /** The account row, read once per request; null if the account no longer exists. */
  account(): Promise<AccountRow | null>;
}
