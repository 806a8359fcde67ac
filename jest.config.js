/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  // Transpile only: ts-jest's type check of every file's imports cost ~15 s per test file; `npm
  // test` type-checks the whole tree once with `tsc -p tsconfig.test.json` before jest runs.
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] },
  testMatch: ['**/*.test.ts'],
  // The crash matrix is long (heartbeat timeouts, server restarts): `npm run test:faults` runs it.
  // The PostgreSQL-backed service builds Temporal from source: `npm run test:cluster` runs it.
  // The chaos soak runs for minutes: `npm run test:soak` runs it.
  testPathIgnorePatterns: [
    '/node_modules/',
    '<rootDir>/test/faults/',
    '<rootDir>/test/cluster/',
    '<rootDir>/test/soak/',
  ],
  // Integration tests start a real Temporal dev server and real processes.
  testTimeout: 120_000,
  slowTestThreshold: 30,
  // After the summary, the ten slowest files with their times.
  reporters: ['default', '<rootDir>/scripts/jest-slowest.js'],
};
