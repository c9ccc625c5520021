import CircuitBreaker from 'opossum';

export interface BreakerOptions {
  /** Share of failed Redis round trips, over the rolling window, that opens the circuit. */
  readonly errorThresholdPercentage?: number;
  /** Round trips needed in the window before the circuit may open. */
  readonly volumeThreshold?: number;
  /** How long the circuit stays open before one round trip is let through to try Redis again. */
  readonly resetTimeoutMs?: number;
}

/**
 * A circuit breaker (opossum) around Redis round trips. Disconnections are already fail-fast
 * (ioredis without offline queue); the breaker covers the slow failure — a Redis that accepts
 * connections but answers after the command timeout — so that requests stop paying that timeout
 * on every round trip: while open, round trips fail at once and reads go to the database.
 */
export function createRedisBreaker(options: BreakerOptions = {}): CircuitBreaker<[() => Promise<unknown>], unknown> {
  return new CircuitBreaker((run: () => Promise<unknown>) => run(), {
    timeout: false, // ioredis' commandTimeout bounds each command already
    errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
    volumeThreshold: options.volumeThreshold ?? 5,
    resetTimeout: options.resetTimeoutMs ?? 1000,
    rollingCountTimeout: 2000,
    rollingCountBuckets: 4,
  });
}
