/**
 * `npm run test:fast` (after lint and the type check): the unit tests (test/unit: pure functions,
 * the mission loader, replay of the recorded histories) and the workflow tests with fake
 * activities (test/workflow). No dev server of the suite's own, no real agent CLI; tests of host
 * code on real git repositories and processes are in test/host (`npm run test:host`, and `npm test`).
 */
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/test/unit', '<rootDir>/test/workflow'],
};
