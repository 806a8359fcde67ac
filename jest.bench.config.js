/**
 * Benchmarks (`npm run bench:queue`): they measure and print figures (and write them to
 * bench-queue-results.json); they are not part of `npm test`.
 */
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testPathIgnorePatterns: ['/node_modules/'],
  testMatch: ['<rootDir>/test/bench/**/*.bench.ts'],
  testTimeout: 1_800_000,
};
