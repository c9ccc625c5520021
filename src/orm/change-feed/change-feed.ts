import type { OwnCommits } from './own-commits.ts';

/**
 * A running feed of row changes from the database into the invalidator — the safety net under
 * the mutation resolvers and the ORM subscriber, for writes that skip MikroORM's unit of work.
 */
export interface ChangeFeed {
  /** Resolves once every change committed before the call has been handed to the invalidator. */
  settled(): Promise<void>;
  /** Applies what is already captured, then stops capturing. */
  stop(): Promise<void>;
  /** The commits of this process it recognises and does not invalidate again (PostgreSQL's feed: own-commits.ts). */
  readonly ownCommits?: OwnCommits;
}

/** The NOTIFY channel the PostgreSQL triggers publish on (see the change_feed migration). */
export const CHANGE_CHANNEL = 'catalog_changes';
