import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const cliPath = fileURLToPath(new URL('../../src/cli/seed.ts', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function seedCli(args: string[], databaseUrl: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--no-warnings', cliPath, ...args],
      { env: { ...process.env, DATABASE_URL: databaseUrl } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

describe('npm run seed', () => {
  let db: TestDatabase;
  let file: string;
  beforeAll(async () => {
    db = await createTestDatabase('sqlite', 'seed_cli');
    file = db.url.slice('sqlite:'.length);
  });
  afterAll(() => db?.drop());

  test.each([
    [['--authors', '-5'], /--authors/],
    [['--books', 'many'], /--books must be a non-negative integer, got "many"/],
    [['--reviews', '2.5'], /--reviews must be a non-negative integer, got "2.5"/],
    [['--authors', '0', '--books', '3'], /3 books needs at least one author/],
    [['--books', '0', '--reviews', '3'], /3 reviews needs at least one book/],
    [['--author', '3'], /Unknown option '--author'/],
    [['10'], /Unexpected argument '10'/],
  ])('rejects %j with exit code 2, a reason and the usage, before touching the database', async (args, reason) => {
    const run = await seedCli(args, db.url);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(reason);
    expect(run.stderr).toMatch(/usage: npm run seed/);
    expect(existsSync(file)).toBe(false);
  });

  test('rejects a DATABASE_URL it cannot use with exit code 2, showing the value', async () => {
    const run = await seedCli(['--authors', '1'], 'mysql://catalog@db/catalog');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/DATABASE_URL must be .* got "mysql:\/\/catalog@db\/catalog"/);
  });

  test('seeds an empty database, refuses a filled one, and refills it with --reset', async () => {
    const args = ['--authors', '2', '--books', '3', '--reviews', '4'];
    const first = await seedCli(args, db.url);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^seeded 2 authors, 3 books, 4 reviews \(seed 42\) into sqlite in \d+\.\d s\n$/);

    const refused = await seedCli(args, db.url);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already holds 2 authors, 3 books, 4 reviews; pass --reset/);

    const reset = await seedCli([...args, '--reset', '--seed', '3'], db.url);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toMatch(/^seeded 2 authors, 3 books, 4 reviews \(seed 3\)/);
  });
});
