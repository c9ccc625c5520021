/** What a store reports about its own traffic: the seam for metrics, traces and tests that count. */
export type StoreOperation = 'getMany' | 'setMany' | 'acquire' | 'invalidate' | 'increment' | 'raiseCounter' | 'responseLookup' | 'responseSave' | 'localSync';

export interface StoreObserver {
  /** Called once per network round trip with the number of commands it carried. */
  roundTrip?(operation: StoreOperation, commands: number, durationMs: number): void;
  /** Called when a round trip failed; the store has already degraded (miss / dropped fill). */
  failure?(operation: StoreOperation, error: unknown): void;
}
