/**
 * A running feed of row changes from the database into the invalidator — the safety net under
 * the mutation resolvers and the ORM subscriber, for writes that skip MikroORM's unit of work.
 */
export interface ChangeFeed {
  /** Resolves once every change committed before the call has been handed to the invalidator. */
  settled(): Promise<void>;
  /** Applies what is already captured, then stops capturing. */
  stop(): Promise<void>;
}

/** The NOTIFY channel the PostgreSQL triggers publish on (see the change_feed migration). */
export const CHANGE_CHANNEL = 'catalog_changes';
