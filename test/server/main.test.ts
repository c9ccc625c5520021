import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { testDrivers, createTestDatabase, type TestDatabase } from '../support/database.ts';
import { postGraphQL, TEST_REDIS_URL } from '../support/test-server.ts';

/** Starts `npm start`'s entry point as its own process and waits for its "ready" log line. */
async function start(db: TestDatabase): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, ['src/server/main.ts'], {
    env: { ...process.env, NODE_OPTIONS: '', PORT: '0', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, CACHE_PREFIX: `t.main.${randomBytes(4).toString('hex')}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => { output += d; });
  child.stderr!.on('data', (d) => { output += d; });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 30_000);
    child.stdout!.on('data', () => {
      const match = /"url":"(http:\/\/[^"]+)\/graphql"/.exec(output);
      if (match) { clearTimeout(timer); resolve(match[1]!); }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  return { child, url, output: () => output };
}

describe.each(testDrivers())('the server process on %s', (driver) => {
  let db: TestDatabase;
  beforeAll(async () => { db = await createTestDatabase(driver, `main-${driver}`); });
  afterAll(() => db.drop());

  it('migrates an empty database, seeds the demo catalog, serves, and exits cleanly on SIGTERM', async () => {
    const { child, url, output } = await start(db);
    const health = await fetch(`${url}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    const res = await postGraphQL(url, '{ books(first: 1) { totalCount } authors { totalCount } }');
    expect(res.data).toEqual({ books: { totalCount: 50 }, authors: { totalCount: 10 } });

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(output()).toContain('shutting down');
  }, 60_000);

  it('does not seed again on the next start, and stops on SIGINT too', async () => {
    const { child, url } = await start(db);
    const res = await postGraphQL(url, '{ books(first: 1) { totalCount } }');
    expect(res.data.books.totalCount).toBe(50);
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  }, 60_000);
});
