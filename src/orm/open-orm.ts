import { MikroORM, type AbstractSqlDriver, type SqlEntityManager } from '@mikro-orm/sql';
import pg from 'pg';
import { parseDatabaseUrl } from './database-url.ts';
import { createOrmConfig, type OrmOptions } from './orm-config.ts';

export type CatalogOrm = MikroORM<AbstractSqlDriver, SqlEntityManager<AbstractSqlDriver>>;

/**
 * Connects and applies pending migrations, so the returned ORM always sees the current schema.
 * Close it with `orm.close()`.
 */
export async function openOrm(options: OrmOptions = {}): Promise<CatalogOrm> {
  const orm: CatalogOrm = await MikroORM.init(createOrmConfig(options));
  try {
    const target = parseDatabaseUrl(options.databaseUrl);
    if (target.driver === 'sqlite') {
      // WAL lets the server read while a job (seed, import) writes; the mode is stored in the file.
      await orm.em.getConnection().execute('pragma journal_mode = wal');
      await orm.migrator.up();
    } else {
      await whileLocked(target.clientUrl, () => orm.migrator.up());
    }
  } catch (error) {
    await orm.close(true);
    throw error;
  }
  return orm;
}

/** Any constant: the advisory lock every instance of this server takes to migrate. */
const MIGRATION_LOCK = 4_207_310_001;

/**
 * Several instances starting together on one PostgreSQL database must not run the same migration
 * at once (the second would fail on "relation already exists"): the first takes a session-level
 * advisory lock on a connection of its own, the others wait for it and then find nothing pending.
 */
async function whileLocked(connectionString: string, work: () => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await work();
  } finally {
    await client.end(); // ending the session releases the lock, also when work failed
  }
}
