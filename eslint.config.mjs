// typescript-eslint with type information and prettier, in the spirit of temporalio/samples-typescript.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

// src/mission is the shared, lowest layer: the client, the activities and the workflows import it;
// it imports none of them.
const missionLayer = {
  group: ['../activities', '../activities/*', '../workflows', '../workflows/*', '../client', '../client/*'],
  message: 'src/mission must not depend on activities, workflows or the client',
};
// Workflow code runs in Temporal's deterministic sandbox: no Node APIs, activities as types only.
const deterministic = {
  group: ['node:*', 'fs', 'path', 'os', 'child_process', 'simple-git', 'execa', 'zod', 'yaml'],
  message: 'workflow code must stay deterministic: no I/O or Node APIs',
};
// The import strings that reach src/activities and the client depend on the file's depth: from
// src/workflows/x.ts `../activities` is src/activities, from src/workflows/task/x.ts it is the
// workflows' own activity proxies (src/workflows/activities.ts).
const activitiesAsTypes = (up) => ({
  regex: `^${up}(activities|client)(/|$)`,
  allowTypeImports: true,
  message: 'import activities as types only',
});
// Every src/mission module the workflows import (a later block wins for a file in both lists).
const workflowImported = [
  'src/mission/types.ts',
  'src/mission/progress.ts',
  'src/mission/control.ts',
  'src/mission/plan.ts',
  'src/mission/usage.ts',
  'src/mission/failures.ts',
  'src/mission/error-types.ts',
  'src/mission/queue.ts',
  'src/mission/describe.ts',
  'src/mission/url-credentials.ts',
  'src/mission/by-id.ts',
  'src/mission/shell-quote.ts',
  'src/mission/conflict-help.ts',
];

export default tseslint.config(
  // scripts/*.js run before anything is installed: plain Node, outside the TypeScript project.
  { ignores: ['lib/', 'node_modules/', 'coverage/', 'examples/', '*.js', '*.mjs', 'scripts/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      // An unawaited promise in an activity or the CLI is a lost error or a process left behind.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'object-shorthand': ['error', 'always'],
    },
  },
  {
    files: ['src/mission/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [missionLayer] }] },
  },
  {
    files: ['src/workflows/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [deterministic, activitiesAsTypes('\\.\\./')] }] },
  },
  {
    files: ['src/workflows/*/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [deterministic, activitiesAsTypes('\\.\\./\\.\\./')] }] },
  },
  {
    files: workflowImported,
    rules: { 'no-restricted-imports': ['error', { patterns: [deterministic, missionLayer] }] },
  },
);
