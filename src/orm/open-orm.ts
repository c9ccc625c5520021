import { MikroORM, type AbstractSqlDriver, type SqlEntityManager } from '@mikro-orm/sql';
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
    if (parseDatabaseUrl(options.databaseUrl).driver === 'sqlite') {
      // WAL lets the server read while a job (seed, import) writes; the mode is stored in the file.
      await orm.em.getConnection().execute('pragma journal_mode = wal');
    }
    await orm.migrator.up();
  } catch (error) {
    await orm.close(true);
    throw error;
  }
  return orm;
}
