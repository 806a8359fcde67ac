/**
 * The crash matrix (`npm run test:faults`): real workers, dev servers and CLIs killed with SIGKILL.
 * Kept out of `npm test` because each case waits out heartbeat timeouts and restarts.
 */
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testPathIgnorePatterns: ['/node_modules/'],
  testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
  testTimeout: 300_000,
};
