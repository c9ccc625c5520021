import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type DatabaseTarget =
  | { driver: 'sqlite'; file: string }
  | { driver: 'postgresql'; clientUrl: string };

/** The project root: relative SQLite paths resolve against it, so the working directory does not matter. */
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

export const defaultSqliteFile = resolve(projectRoot, 'data/catalog.sqlite3');

/**
 * Reads DATABASE_URL. Accepted forms:
 * - unset or empty: the SQLite file `data/catalog.sqlite3` in the project;
 * - `sqlite:PATH`, `sqlite://PATH`, `file:PATH`, `file:///ABSOLUTE/PATH`: an SQLite file
 *   (relative paths resolve against the project root; `sqlite::memory:` is an in-memory database);
 * - `postgres://…`, `postgresql://…`: PostgreSQL, passed through unchanged.
 */
export function parseDatabaseUrl(url: string | undefined): DatabaseTarget {
  const value = url?.trim() ?? '';
  if (value === '') {
    return { driver: 'sqlite', file: defaultSqliteFile };
  }
  if (/^postgres(ql)?:\/\//i.test(value)) {
    return { driver: 'postgresql', clientUrl: value };
  }
  if (/^file:\/\//i.test(value)) {
    return { driver: 'sqlite', file: fileURLToPath(value) };
  }
  const path = /^(sqlite|file):(\/\/)?(.*)$/i.exec(value)?.[3];
  if (path === undefined || path === '') {
    throw new TypeError(
      'DATABASE_URL must be empty (SQLite file data/catalog.sqlite3), sqlite:PATH, file:PATH, ' +
        `postgres://… or postgresql://…, got ${JSON.stringify(redactPassword(value))}.`,
    );
  }
  if (path === ':memory:') {
    return { driver: 'sqlite', file: path };
  }
  return { driver: 'sqlite', file: isAbsolute(path) ? path : resolve(projectRoot, path) };
}

/** Error messages show the bad value, but never a password that may sit in it. */
function redactPassword(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}
