import type CircuitBreaker from 'opossum';
import type { StoreObserver, StoreOperation } from './store-observer.ts';

/**
 * Runs one Redis round trip and reports it: its duration (unless an open circuit breaker refused
 * it, in which case nothing was sent) and its failure. `breaker`, when given, guards the call.
 */
export async function timedRoundTrip<T>(
  observer: StoreObserver,
  operation: StoreOperation,
  commands: number,
  run: () => Promise<T>,
  breaker?: CircuitBreaker<[() => Promise<unknown>], unknown>,
): Promise<T> {
  const started = performance.now();
  let sent = true;
  try {
    return (breaker ? await breaker.fire(run) : await run()) as T;
  } catch (error) {
    sent = (error as { code?: string }).code !== 'EOPENBREAKER'; // open circuit: nothing was sent
    observer.failure?.(operation, error);
    throw error;
  } finally {
    if (sent) observer.roundTrip?.(operation, commands, performance.now() - started);
  }
}
