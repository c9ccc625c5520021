import type { SqlEntityManager } from '@mikro-orm/sql';
import type { Invalidator } from '../cache/invalidator.ts';
import type { Loaders } from './loaders/create-loaders.ts';

/** Per-request context: a forked EntityManager, the request's loaders, the shared invalidator. */
export interface GraphQLContext {
  readonly em: SqlEntityManager;
  readonly loaders: Loaders;
  readonly invalidator: Invalidator;
}
