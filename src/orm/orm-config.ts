import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DefaultLogger, type MetadataStorage, type EventSubscriber, type Logger, type LoggerOptions } from '@mikro-orm/core';
import type { MigrationObject } from '@mikro-orm/core';
import type { SqlOptions } from '@mikro-orm/sql';
import { SqliteDriver } from '@mikro-orm/sqlite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { parseDatabaseUrl } from './database-url.ts';
import { entities } from './entities/index.ts';
import { migrations as sqliteMigrations } from './migrations/sqlite/index.ts';
import { migrations as postgresMigrations } from './migrations/postgres/index.ts';

/**
 * `durationMs`: as MikroORM measured it (whole milliseconds: it uses Date.now()); undefined for the
 * statements it does not time — begin/commit/rollback/savepoint and streamed queries.
 */
export type OnQuery = (sql: string, params: readonly unknown[], durationMs?: number) => void;

export interface OrmOptions {
  /** DATABASE_URL syntax, see parseDatabaseUrl; undefined selects the default SQLite file. */
  databaseUrl?: string;
  subscribers?: EventSubscriber[];
  /** Called once per statement sent to the database, including begin/commit/rollback. */
  onQuery?: OnQuery;
  /** Print queries to stdout (MikroORM's own logger); independent of onQuery. */
  debug?: boolean;
}

/**
 * One function for both drivers: the result is typed for the common SQL driver, so callers get
 * `SqlEntityManager` (QueryBuilder, `execute`, `insertMany`) whichever database DATABASE_URL names.
 * For SQLite the file's folder is created here, so every way of opening the ORM finds it.
 */
export function createOrmConfig(options: OrmOptions = {}): SqlOptions {
  const target = parseDatabaseUrl(options.databaseUrl);
  const common = {
    entities,
    allowGlobalContext: false,
    debug: options.debug ?? false,
    subscribers: options.subscribers ?? [],
    loggerFactory: createLoggerFactory(options.onQuery),
    extensions: [Migrator],
    // Creates a missing PostgreSQL database (never tables: those come from migrations only).
    ensureDatabase: true,
    // The PostgreSQL change-feed triggers are hand-written in a migration, not declared on the
    // entities: without this, every schema diff (`npm run migration:create`) would drop them.
    schemaGenerator: { ignoreTriggers: true },
  } satisfies SqlOptions;

  if (target.driver === 'sqlite') {
    if (target.file !== ':memory:') {
      mkdirSync(dirname(target.file), { recursive: true });
    }
    return {
      ...common,
      driver: SqliteDriver,
      dbName: target.file,
      discovery: { afterDiscovered: useEpochMillisecondDefaults },
      migrations: migrationOptions(sqliteMigrations, common.debug),
    };
  }
  return {
    ...common,
    driver: PostgreSqlDriver,
    clientUrl: target.clientUrl,
    migrations: migrationOptions(postgresMigrations, common.debug),
  };
}

/**
 * MikroORM stores a Date in SQLite as epoch milliseconds (an integer), but SQLite's own
 * `current_timestamp` is the text 'YYYY-MM-DD HH:MM:SS': a row inserted by plain SQL would then sort
 * and compare apart from ORM rows. So in SQLite, a date column defaulting to `current_timestamp`
 * defaults to the current epoch milliseconds instead (julianday keeps it valid on any SQLite version).
 */
const sqliteNowMilliseconds = "(cast(round((julianday('now') - 2440587.5) * 86400000) as integer))";

function useEpochMillisecondDefaults(storage: MetadataStorage): void {
  for (const meta of storage.getAll().values()) {
    for (const prop of meta.props) {
      if (prop.runtimeType === 'Date' && prop.defaultRaw?.toLowerCase() === 'current_timestamp') {
        prop.defaultRaw = sqliteNowMilliseconds;
      }
    }
  }
}

function migrationOptions(migrationsList: MigrationObject[], debug: boolean): SqlOptions['migrations'] {
  return {
    migrationsList,
    // The migrator prints "Processing/Applied" to stdout regardless of `debug` unless silenced.
    silent: !debug,
    // Snapshots would be written next to the sources on every `up()`; the migration script
    // diffs against a freshly migrated database instead.
    snapshot: false,
    transactional: true,
    allOrNothing: true,
  };
}

/**
 * MikroORM reports every statement it sends (queries through `execute`, `stream`, and the
 * begin/commit/rollback/savepoint statements that bypass `execute`) to `Logger.logQuery`, whether
 * or not query logging is enabled. Its `onQuery` option is narrower: it only sees `execute`/`stream`.
 */
function createLoggerFactory(onQuery: OnQuery | undefined): (options: LoggerOptions) => Logger {
  if (onQuery === undefined) {
    return DefaultLogger.create;
  }
  return (loggerOptions) => {
    const logger = DefaultLogger.create(loggerOptions);
    const logQuery = logger.logQuery.bind(logger);
    logger.logQuery = (context) => {
      // With slowQueryThreshold set, the same statement is reported a second time in this namespace.
      if (context.namespace !== 'slow-query' && context.query !== undefined) {
        onQuery(context.query, context.params ?? [], context.took);
      }
      logQuery(context);
    };
    return logger;
  };
}
