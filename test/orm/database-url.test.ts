import { join } from 'node:path';
import { defaultSqliteFile, parseDatabaseUrl, projectRoot } from '../../src/orm/database-url.ts';

describe('parseDatabaseUrl', () => {
  test.each([undefined, '', '  '])('selects the project SQLite file for %j', (url) => {
    expect(parseDatabaseUrl(url)).toEqual({ driver: 'sqlite', file: join(projectRoot, 'data/catalog.sqlite3') });
    expect(defaultSqliteFile).toBe(join(projectRoot, 'data/catalog.sqlite3'));
  });

  test.each([
    ['sqlite:tmp/a.sqlite3', join(projectRoot, 'tmp/a.sqlite3')],
    ['sqlite://tmp/a.sqlite3', join(projectRoot, 'tmp/a.sqlite3')],
    ['sqlite:/var/a.sqlite3', '/var/a.sqlite3'],
    ['sqlite:///var/a.sqlite3', '/var/a.sqlite3'],
    ['file:./a.sqlite3', join(projectRoot, 'a.sqlite3')],
    ['file:///var/a.sqlite3', '/var/a.sqlite3'],
    ['sqlite::memory:', ':memory:'],
  ])('reads %s as the SQLite file %s', (url, file) => {
    expect(parseDatabaseUrl(url)).toEqual({ driver: 'sqlite', file });
  });

  test.each(['postgres://postgres@127.0.0.1:5432/test', 'postgresql://u:p@db/catalog?sslmode=require'])(
    'passes %s to PostgreSQL unchanged',
    (url) => {
      expect(parseDatabaseUrl(url)).toEqual({ driver: 'postgresql', clientUrl: url });
    },
  );

  test.each(['mysql://u@db/x', 'catalog.sqlite3', 'sqlite:', 'http://db'])('rejects %j with a TypeError naming DATABASE_URL', (url) => {
    expect(() => parseDatabaseUrl(url)).toThrow(TypeError);
    expect(() => parseDatabaseUrl(url)).toThrow(`DATABASE_URL must be`);
    expect(() => parseDatabaseUrl(url)).toThrow(JSON.stringify(url));
  });

  test('hides a password in the error message', () => {
    expect(() => parseDatabaseUrl('mysql://admin:s3cret@db/x')).toThrow('"mysql://admin:***@db/x"');
  });
});
