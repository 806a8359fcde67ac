/**
 * The chaos soak (`npm run test:soak`): one long mission under random worker kills, a server
 * restart and worktree faults. Kept out of `npm test`: it runs for several minutes. The soak
 * fails itself at its own deadline (SOAK_DEADLINE, default 14m) naming what it waited for; the
 * test timeout is only the backstop.
 */
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testPathIgnorePatterns: ['/node_modules/'],
  testMatch: ['<rootDir>/test/soak/**/*.test.ts'],
  testTimeout: 25 * 60_000,
};
