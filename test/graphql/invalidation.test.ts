import { testDrivers } from '../support/database.ts';
import { invalidationCases } from '../support/invalidation-cases.ts';
import { startTestServer } from '../support/test-server.ts';

// The cases live in test/support/invalidation-cases.ts: the Redis Cluster suite runs them too.
describe.each(testDrivers())('invalidation precision on %s', (driver) => {
  invalidationCases(() => startTestServer(driver, `inval-${driver}`));
});
