/**
 * Flotilla on a production Temporal service (`npm run test:cluster`): `scripts/temporal-cluster`
 * builds the Temporal server from its Go module (several minutes the first time), starts it with
 * PostgreSQL and its Web UI, and a mission runs there. Kept out of `npm test` and CI for that time.
 */
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testPathIgnorePatterns: ['/node_modules/'],
  testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
  // The first `up` builds the server, the UI server and the SQL tool: up to ~15 min on 2 cores.
  testTimeout: 1_800_000,
};
