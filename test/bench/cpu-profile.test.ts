/**
 * The profile reduction behind `bench:anatomy --profile`: self time per part, idle left out, each
 * sample charged the delta to the next one; and the in-process profiler round trip.
 */
import { addSelfTime, createProfiler, partOf, selfTime, type CpuProfile } from '../../bench/suite/cpu-profile.ts';

test('parts: packages (scoped whole), our files, Node modules, V8 entries', () => {
  const frame = (url: string, functionName = 'f') => ({ url, functionName });
  expect([
    partOf(frame('file:///app/node_modules/@mikro-orm/core/EntityManager.js')),
    partOf(frame('file:///app/node_modules/graphql/execution/execute.js')),
    partOf(frame('file:///work/main/src/cache/key-reader.ts')),
    partOf(frame('node:internal/streams/readable')),
    partOf(frame('node:events')),
    partOf(frame('', '(garbage collector)')),
    partOf(frame('', 'writev')),
  ]).toEqual(['@mikro-orm/core', 'graphql', 'src/cache/key-reader.ts', 'node:streams', 'node:events', '(garbage collector)', 'writev']);
});

test('self time: each sample gets the delta to the next; idle is not counted', () => {
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '' } },
      { id: 2, callFrame: { functionName: 'execute', url: 'file:///x/node_modules/graphql/execution/execute.js' } },
      { id: 3, callFrame: { functionName: '(idle)', url: '' } },
      { id: 4, callFrame: { functionName: 'batch', url: 'file:///x/src/cache/read-through-loader.ts' } },
    ],
    samples: [2, 2, 3, 4, 2],
    timeDeltas: [0, 100, 250, 400, 50],
  };
  // Sample i lasts timeDeltas[i + 1]: graphql 100 + 250, idle 400 (dropped), the loader 50; the last sample has no end.
  expect(selfTime(profile)).toEqual({ graphql: 350, 'src/cache/read-through-loader.ts': 50 });
  expect(addSelfTime({ graphql: 10 }, { graphql: 350, pg: 5 }, -1)).toEqual({ graphql: -340, pg: -5 });
});

test('the in-process profiler answers where this process spent its CPU', async () => {
  const profiler = createProfiler();
  try {
    await profiler.start();
    const end = performance.now() + 50;
    let x = 0;
    while (performance.now() < end) x += Math.sqrt(x + 1);
    const tally = await profiler.stop();
    expect(x).toBeGreaterThan(0);
    const total = Object.values(tally).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(10_000); // µs: most of the 50 ms busy loop
  } finally {
    profiler.close();
  }
});
