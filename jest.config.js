/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testMatch: ['**/*.test.ts'],
  // The crash matrix is long (heartbeat timeouts, server restarts): `npm run test:faults` runs it.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/faults/'],
  // Integration tests start a real Temporal dev server and real processes.
  testTimeout: 120_000,
  slowTestThreshold: 30,
};
