/**
 * The benchmark suite's smoke run (`npm run bench:smoke`), in this process: tiny data, ~1.5 s phases,
 * every target (ours with the cache on, ours without the response cache, ours with the cache off, Apollo's response cache) on every
 * scenario. Asserts that it completes, that every target answered every scenario (non-zero
 * throughput, no errors) and that ours served no stale read in the read/write mix. On SQLite always;
 * on PostgreSQL too when TEST_DATABASE_URL is set.
 */
import { sound } from '../../bench/suite/run.ts';
import { runSuite, SCENARIOS, smokeOptions } from '../../bench/suite/suite.ts';
import { TARGET_KINDS } from '../../bench/suite/targets.ts';
import { testDrivers } from '../support/database.ts';
import { TEST_REDIS_URL } from '../support/test-server.ts';

describe.each(testDrivers())('benchmark suite smoke run (%s)', (driver) => {
  test('every target answers every scenario; ours serves no stale read', async () => {
    const result = await runSuite(smokeOptions({
      databaseServerUrl: driver === 'postgresql' ? process.env.TEST_DATABASE_URL : undefined,
      redisUrl: TEST_REDIS_URL,
      isolate: false,
      log: () => {},
    }));

    expect(result.measurements).toHaveLength(SCENARIOS.length * TARGET_KINDS.length);
    for (const m of result.measurements) {
      expect({ scenario: m.scenario, target: m.target, positive: m.load.reqPerSec > 0, errors: m.load.errors, samples: m.load.errorSamples })
        .toEqual({ scenario: m.scenario, target: m.target, positive: true, errors: 0, samples: [] });
    }
    const q3 = (target: string) => result.measurements.find((m) => m.scenario === 'Q3' && m.target === target)!.mix!;
    expect(q3('ours').reads).toBeGreaterThan(0);
    expect(q3('ours').staleReads).toBe(0);
    expect(q3('loadersOnly').staleReads).toBe(0);
    // Our whole-response cache answered part of Q1 (the sweep and warm-up stored the answers).
    expect(result.measurements.find((m) => m.scenario === 'Q1' && m.target === 'ours')!.responseCacheHitRate).toBeGreaterThan(0);
    expect(q3('cacheOff').staleReads).toBe(0); // reads straight from the database: the check itself is sound
    // Apollo's response cache did cache (a repeated query carried an age header).
    expect(result.probes.find((p) => p.target === 'apollo')!.repeatedQ1Age).not.toBeNull();
    expect(sound(result)).toBe(true);
  }, 120_000);
});
