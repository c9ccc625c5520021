import { spawn, type ChildProcess } from 'node:child_process';
import { TEST_REDIS_URL } from './test-server.ts';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything the process printed so far (pino JSON lines). */
  output(): string;
  /** SQL statements it logged (LOG_LEVEL=trace). */
  statements(): string[];
  stop(): Promise<number | null>;
}

/** Starts the real server entry point (`npm start`'s) as its own process, and waits until it is ready. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['src/server/main.ts'], {
    // NODE_ENV as for `npm start` (Jest sets 'test', under which some libraries behave differently).
    env: { ...process.env, NODE_OPTIONS: '', NODE_ENV: '', PORT: '0', REDIS_URL: TEST_REDIS_URL, SEED_DEMO: 'off', ...env },
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
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n${output}`)); });
  });
  return {
    child, url,
    output: () => output,
    statements: () => output.split('\n').flatMap((line) => {
      if (!line.includes('"msg":"sql"')) return [];
      try { return [String(JSON.parse(line).sql)]; } catch { return []; }
    }),
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      return exited;
    },
  };
}
