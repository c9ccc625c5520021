import type { SqlEntityManager } from '@mikro-orm/sql';
import type { Logger } from 'pino';
import type { Invalidator } from '../cache/invalidator.ts';
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
}
