import type { Logger } from 'pino';
import type { InvalidatorObserver } from '../cache/invalidator.ts';
import type { LocalTierObserver } from '../cache/local-tier.ts';
import type { LoaderObserver } from '../cache/read-through-loader.ts';
import type { StoreObserver } from '../cache/store-observer.ts';
import type { PgChangeListenerObserver } from '../orm/change-feed/pg-change-listener.ts';
import type { SqliteChangeCaptureObserver } from '../orm/change-feed/sqlite-change-capture.ts';
import type { OnQuery } from '../orm/orm-config.ts';
import type { AppHooks } from './app.ts';
import type { Metrics } from './metrics.ts';
import type { RequestScope, RequestState } from './request-scope.ts';

/**
 * Every observation seam of the app, each fanned out to the metrics, the current request's trace
 * (found through async context: these hooks are process-wide) and the caller's hooks (tests).
 */
export function createAppObservers(options: { hooks: AppHooks; metrics: Metrics; scope: RequestScope; log: Logger }) {
  const { hooks, metrics, scope, log } = options;
  const trace = () => scope.getStore()?.trace;

  const store: StoreObserver = {
    roundTrip(operation, commands, durationMs) {
      metrics.redisRoundTrip(operation, durationMs);
      trace()?.roundTrip(operation);
      hooks.store?.roundTrip?.(operation, commands, durationMs);
    },
    failure(operation, error) {
      metrics.redisFailure(operation);
      hooks.store?.failure?.(operation, error);
    },
  };

  const invalidator: InvalidatorObserver = {
    applied(evictions) {
      metrics.invalidation([...evictions.entities()].map((e) => e.type), evictions.families(), [...evictions.ranges()].map((r) => r.family));
      trace()?.evicted(evictions);
      hooks.invalidator?.applied?.(evictions);
    },
    lost(evictions, error) {
      metrics.lostInvalidation();
      (scope.getStore()?.log ?? log).warn({ err: error, evictions: evictions.describe() }, 'invalidation may not have reached Redis');
      hooks.invalidator?.lost?.(evictions, error);
    },
  };

  const localTier: LocalTierObserver = {
    served: () => metrics.localTier('hit'),
    forwarded: () => metrics.localTier('miss'),
    evicted: (keys) => metrics.localEvictions(keys),
    cleared: (reason) => metrics.localCleared(reason),
    // The barrier's PING: a round trip of the store's like any other (shared by the reads that waited).
    synced: (durationMs, error) => (error === undefined ? store.roundTrip!('localSync', 1, durationMs) : store.failure!('localSync', error)),
  };

  // Every statement at trace level: how tests and operators count SQL in a server process.
  const onQuery: OnQuery = (sql, params, durationMs) => {
    metrics.sqlStatement(sql, durationMs);
    trace()?.statement(sql);
    hooks.onQuery?.(sql, params, durationMs);
    if (log.isLevelEnabled('trace')) (scope.getStore()?.log ?? log).trace({ sql, durationMs }, 'sql');
  };

  const pgFeed: PgChangeListenerObserver = {
    ...hooks.changeFeed,
    applied(events, delayMs) {
      metrics.changeFeedApplied('postgres', events.length, delayMs);
      hooks.changeFeed?.applied?.(events, delayMs);
    },
    connected(info) {
      if (info.bumped) metrics.epochBump('change_feed_connect');
      hooks.changeFeed?.connected?.(info);
    },
    disconnected(error) {
      metrics.changeFeedDisconnected();
      hooks.changeFeed?.disconnected?.(error);
    },
  };

  const sqliteFeed: SqliteChangeCaptureObserver = {
    applied: (events) => metrics.changeFeedApplied('sqlite', events.length),
  };

  /** A request's loaders report to the metrics, to its trace if it has one, and to the hooks. */
  function loaders(request: RequestState | undefined): LoaderObserver {
    const observers = [request?.trace?.loader, hooks.loaders].filter((o) => o !== undefined);
    return {
      lookup(name, hits, misses, keys) {
        metrics.lookup(name, hits, misses);
        for (const o of observers) o.lookup?.(name, hits, misses, keys);
      },
      fill(name, written, keys) {
        metrics.fill(name, written);
        for (const o of observers) o.fill?.(name, written, keys);
      },
      waited(name, served, timedOut) {
        metrics.leaseWait(name, served, timedOut);
        for (const o of observers) o.waited?.(name, served, timedOut);
      },
    };
  }

  return { store, invalidator, localTier, onQuery, pgFeed, sqliteFeed, loaders, onRepaired: () => metrics.epochBump('repair') };
}
