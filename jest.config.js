// Jest runs in ESM mode (MikroORM 7 is ESM only); @swc/jest strips types without type-checking,
// which `npm test` does first with `tsc --noEmit`.
export default {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
      module: { type: 'es6' },
    }],
  },
  testTimeout: 30000,
  // Integration tests wait on Redis and the database far more than on CPU: run more files than cores.
  maxWorkers: 4,
};
