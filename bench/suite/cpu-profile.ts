/**
 * CPU profiles of a target, taken by V8's sampling profiler through `node:inspector` in the
 * target's own process, and reduced there to self time per *part* — a package, a file of ours, a
 * part of Node, or V8's own entries ((garbage collector), (program)) — so that only a small tally
 * crosses the IPC channel. `npm run bench:anatomy -- --profile` uses it to say where each operation's
 * CPU goes (the difference of two steps' tallies, per step done).
 */
import { Session } from 'node:inspector/promises';

/** The parts of a Profiler.Profile this reads (Chrome DevTools Protocol). */
export interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: { readonly functionName: string; readonly url: string } }[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

/** Microseconds of self time per part (see partOf); idle time is left out. */
export type SelfTime = Record<string, number>;

/** Sampling interval: finer than V8's default 1 ms, as an operation costs well under 1 ms. */
const SAMPLING_INTERVAL_US = 250;

/**
 * Which part a function belongs to: `pkg` for node_modules/pkg (scoped names whole), the path under
 * the repository for our files (`src/cache/key-reader.ts`), `node:<module>` for Node's own, or V8's
 * name for native entries ((garbage collector), (program), writev…).
 */
export function partOf(callFrame: { readonly functionName: string; readonly url: string }): string {
  const { url, functionName } = callFrame;
  if (url === '') return functionName || '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const ours = /\/((?:src|bench|test)\/.*)$/.exec(url);
  if (ours) return ours[1]!;
  if (url.startsWith('node:')) return `node:${url.slice('node:'.length).replace(/^internal\//, '').split('/')[0]}`;
  return url;
}

/**
 * BENCH_PROFILE_BY=function (in the environment of the target's process): tally per function
 * (`<part> <function>`) instead of per part — where inside a part the time goes.
 */
export const BY_FUNCTION = process.env.BENCH_PROFILE_BY === 'function';

function functionOf(callFrame: { readonly functionName: string; readonly url: string }): string {
  const part = partOf(callFrame);
  return callFrame.url === '' ? part : `${part} ${callFrame.functionName || '(anonymous)'}`;
}

/**
 * Self time per part. A sample's time is the delta to the next sample (the last one has none), as
 * DevTools counts it.
 */
export function selfTime(profile: CpuProfile): SelfTime {
  const parts = new Map<number, string>();
  for (const node of profile.nodes) parts.set(node.id, BY_FUNCTION ? functionOf(node.callFrame) : partOf(node.callFrame));
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const tally: SelfTime = {};
  for (let i = 0; i + 1 < samples.length; i++) {
    const part = parts.get(samples[i]!);
    if (part === undefined || part === '(idle)') continue;
    tally[part] = (tally[part] ?? 0) + (deltas[i + 1] ?? 0);
  }
  return tally;
}

/** Adds `b` into `a` (scaled by `factor`), part by part; returns `a`. */
export function addSelfTime(a: SelfTime, b: SelfTime, factor = 1): SelfTime {
  for (const [part, micros] of Object.entries(b)) a[part] = (a[part] ?? 0) + factor * micros;
  return a;
}

/** The profiler of this process: start(), then stop() answers the self time since. */
export function createProfiler() {
  let session: Session | null = null;
  return {
    async start(): Promise<void> {
      if (!session) {
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
      }
      await session.post('Profiler.start');
    },
    async stop(): Promise<SelfTime> {
      if (!session) return {};
      const { profile } = await session.post('Profiler.stop');
      return selfTime(profile as CpuProfile);
    },
    close(): void {
      session?.disconnect();
      session = null;
    },
  };
}
