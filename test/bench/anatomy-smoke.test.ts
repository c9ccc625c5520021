/**
 * The Q3 anatomy (`npm run bench:anatomy`) on tiny data, in this process: every step runs for both
 * targets without errors, and the steps do what their names say — ours rebuilds the answer a write
 * changed (no response-cache hit on the read after its own write), Apollo's response cache serves
 * its stale copy, every write step sends the write's statements, a book nothing had read is a miss
 * for both. CPU figures are not asserted (the targets share this process here).
 */
import { formatAnatomy, operationParts, operations, runAnatomy, STEPS } from '../../bench/suite/anatomy.ts';
import { TEST_REDIS_URL } from '../support/test-server.ts';

test('every step of the anatomy runs against ours and Apollo, and rebuilds only where ours must', async () => {
  const result = await runAnatomy({
    databaseServerUrl: undefined, redisUrl: TEST_REDIS_URL,
    counts: { authors: 20, books: 200, reviews: 600 },
    workers: 3, seconds: 0.5, hotBooks: 60, sweepSeconds: 1, isolate: false, targets: ['ours', 'apollo'], profile: true,
    log: () => {},
  });
  const ours = result.costs.ours!;
  const apollo = result.costs.apollo!;
  for (const step of STEPS) {
    expect([step, ours[step].steps > 0, ours[step].errors, apollo[step].steps > 0, apollo[step].errors]).toEqual([step, true, 0, true, 0]);
  }
  expect(ours.hit.responseCacheHits).toBeGreaterThan(0.9);
  // A book nothing had read: a whole miss for both (the loaders' SQL too), never a hit.
  for (const costs of [ours, apollo]) expect([costs.cold.responseCacheHits, costs.cold.sql >= 1]).toEqual([0, true]);
  for (const step of ['title+Q1', 'price+Q1', 'review+Q1'] as const) {
    expect(ours[step].responseCacheHits).toBeLessThan(0.5); // its own write made the answer stale: rebuilt
    expect(apollo[step].responseCacheHits).toBeGreaterThan(0.9); // served stale
  }
  for (const step of ['title+hit', 'price+hit', 'review+hit'] as const) expect(ours[step].sql).toBeGreaterThanOrEqual(2);
  // --profile: every step has a profile, and the report says where each operation's CPU went.
  for (const step of STEPS) expect(Object.keys(ours[step].selfTime ?? {}).length).toBeGreaterThan(0);
  const report = formatAnatomy(result);
  expect(report).toContain("## Where each operation's CPU goes");
  expect(operationParts(ours).map((o) => o.name)).toEqual(operations(ours).map((o) => o.name));
}, 120_000);
