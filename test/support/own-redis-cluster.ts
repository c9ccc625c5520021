import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './own-redis.ts';

/** A 3-master Redis Cluster of the test's own, from the machine's redis-server; no replicas. */
export interface OwnRedisCluster {
  readonly ports: readonly number[];
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`, as REDIS_URL takes it. */
  readonly url: string;
  dispose(): Promise<void>;
}

const MASTERS = 3;
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the nodes (client and cluster-bus ports both picked free: the default bus port, port +
 * 10000, may be taken or out of range), joins them with `redis-cli --cluster create`, and waits
 * until every node reports the cluster ok with all slots assigned and every node known. Whatever
 * fails on the way, the nodes started so far are killed and their directory removed.
 */
export async function ownRedisCluster(): Promise<OwnRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'cc-redis-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const dispose = async () => {
    await Promise.all(children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < MASTERS; i++) {
      const port = await distinctFreePort(ports);
      ports.push(port);
      const bus = await distinctFreePort(ports);
      ports.push(bus);
      children.push(spawn('redis-server', [
        '--port', String(port), '--cluster-port', String(bus), '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000',
        '--save', '', '--appendonly', 'no', '--dir', dir,
      ], { stdio: 'ignore' }));
    }
    const clientPorts = ports.filter((_, i) => i % 2 === 0);
    await Promise.all(clientPorts.map((port) => until(`redis-server on ${port} answers`, () => ping(port))));
    await run('redis-cli', ['--cluster', 'create', ...clientPorts.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 15_000 });
    await Promise.all(clientPorts.map((port) => until(`node ${port} sees the cluster ok`, () => clusterOk(port))));
    return { ports: clientPorts, url: `redis+cluster://${clientPorts.map((p) => `127.0.0.1:${p}`).join(',')}`, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** freePort closes its probe before returning, so two calls can answer the same port: ask again. */
async function distinctFreePort(taken: readonly number[]): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!taken.includes(port)) return port;
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`own Redis Cluster: timed out waiting until ${what}`);
}

async function withNode<T>(port: number, use: (node: Redis) => Promise<T>): Promise<T | false> {
  const node = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  node.on('error', () => {});
  try {
    await node.connect();
    return await use(node);
  } catch {
    return false;
  } finally {
    node.disconnect();
  }
}

async function ping(port: number): Promise<boolean> {
  return (await withNode(port, async (node) => (await node.ping()) === 'PONG')) === true;
}

async function clusterOk(port: number): Promise<boolean> {
  return (await withNode(port, async (node) => {
    const info = await node.cluster('INFO');
    return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && new RegExp(`cluster_known_nodes:${MASTERS}\\b`).test(info);
  })) === true;
}
