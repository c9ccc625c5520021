import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import { parseDatabaseUrl } from '../../src/orm/database-url.ts';

export type TestDriver = 'sqlite' | 'postgresql';

export interface TestDatabase {
  /** A DATABASE_URL for the new, empty database. */
  url: string;
  driver: TestDriver;
  drop(): Promise<void>;
}

/** SQLite always; PostgreSQL too when TEST_DATABASE_URL names a server (e.g. postgres://postgres@127.0.0.1:5432/test). */
export function testDrivers(): TestDriver[] {
  return testServerUrl() === undefined ? ['sqlite'] : ['sqlite', 'postgresql'];
}

/**
 * A fresh database per call, so test files (and tests within them) can run in parallel:
 * a temporary SQLite file, or a PostgreSQL database `cc_<label>_<random>` on TEST_DATABASE_URL's server.
 */
export async function createTestDatabase(driver: TestDriver, label: string): Promise<TestDatabase> {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 40);
  if (driver === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), `cc-${slug}-`));
    return {
      url: `sqlite:${join(dir, 'catalog.sqlite3')}`,
      driver,
      // The folder also holds the -wal and -shm files.
      drop: () => rm(dir, { recursive: true, force: true }),
    };
  }
  const serverUrl = testServerUrl();
  if (serverUrl === undefined) {
    throw new TypeError('createTestDatabase("postgresql") needs TEST_DATABASE_URL=postgres://…; see testDrivers().');
  }
  const name = `cc_${slug}_${randomBytes(4).toString('hex')}`;
  await onServer(serverUrl, `create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    driver,
    drop: () => onServer(serverUrl, `drop database if exists "${name}" with (force)`),
  };
}

function testServerUrl(): string | undefined {
  const value = process.env.TEST_DATABASE_URL;
  if (value === undefined || value === '') {
    return undefined;
  }
  if (parseDatabaseUrl(value).driver !== 'postgresql') {
    throw new TypeError(`TEST_DATABASE_URL must be a postgres:// URL, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Runs one statement through a short-lived connection; database DDL cannot run inside the database it targets. */
async function onServer(serverUrl: string, sql: string): Promise<void> {
  const orm = await MikroORM.init({
    clientUrl: serverUrl,
    entities: [],
    discovery: { warnWhenNoEntities: false },
    ensureDatabase: false,
    pool: { min: 0, max: 1 },
  });
  try {
    await orm.em.getConnection().execute(sql);
  } finally {
    await orm.close(true);
  }
}
