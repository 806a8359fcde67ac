// `npm run test:workflow`: the fast workflow suite alone, transpiled without a type check (ts-jest's
// type check of the imported sources costs more than the suite's missions). `npm test` runs the
// same files with the type check of the main jest.config.js.
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/test/workflow'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/workflow/tsconfig.json' }] },
};
