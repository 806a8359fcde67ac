// `npm run test:workflow`: the fast workflow suite alone (transpiled without a type check, as in
// jest.config.js; `npm test` type-checks everything first).
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/test/workflow'],
};
