import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './own-redis.ts';

/** A PostgreSQL cluster of the test's own (never the shared one), so that a test may stop and start it. */
export interface OwnPostgres {
  readonly url: string;
  start(): void;
  /** Immediate shutdown: connections are cut, like a crash. */
  stop(): void;
  dispose(): void;
}

const BIN = '/usr/lib/postgresql/15/bin';

/** Whether this machine can run one (PostgreSQL 15 binaries, and root to run them as `postgres`). */
export function canRunOwnPostgres(): boolean {
  return existsSync(`${BIN}/initdb`) && process.getuid?.() === 0;
}

export async function ownPostgres(): Promise<OwnPostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cc-pg-'));
  const data = join(dir, 'data');
  const pgUser = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const pgGroup = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, pgUser, pgGroup);
  const asPostgres = (command: string, args: string[]) =>
    execFileSync('runuser', ['-u', 'postgres', '--', `${BIN}/${command}`, ...args], { stdio: 'pipe' });

  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync']);
  const self: OwnPostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start() {
      asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-o',
        `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off`, 'start']);
    },
    stop() {
      asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    },
    dispose() {
      try { self.stop(); } catch { /* already stopped */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  self.start();
  return self;
}
