// typescript-eslint with type information and prettier, in the spirit of temporalio/samples-typescript.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

// src/mission is the shared, lowest layer: the client, the activities, the host libraries and the
// workflows import it; it imports none of them.
const missionLayer = {
  group: [
    '../activities',
    '../activities/*',
    '../workflows',
    '../workflows/*',
    '../client',
    '../client/*',
    '../agents',
    '../agents/*',
    '../secrets',
    '../secrets/*',
  ],
  message: 'src/mission must not depend on activities, workflows, the client or the host libraries',
};
// Workflow code runs in Temporal's deterministic sandbox: no Node APIs, activities as types only.
const deterministic = {
  group: ['node:*', 'fs', 'path', 'os', 'child_process', 'simple-git', 'execa', 'zod', 'yaml'],
  message: 'workflow code must stay deterministic: no I/O or Node APIs',
};
const activitiesAsTypes = {
  group: [
    '../activities',
    '../activities/*',
    '../client',
    '../client/*',
    '../agents',
    '../agents/*',
    '../agents/**',
    '../secrets',
    '../secrets/*',
  ],
  allowTypeImports: true,
  message: 'import activities as types only',
};
// src/agents (runtimes, agent processes, transcripts, commands) and src/secrets (the secret rule,
// redaction) are host libraries under the activities: the activities, the worker and the CLI use
// them; they know nothing of Temporal or of the layers above them.
const hostLibrary = {
  regex: '^(\\.\\./)+(activities|workflows|client|worker)(/|$)|^@temporalio/',
  message:
    'src/agents and src/secrets are host libraries: no Temporal, no activities, workflows, client or worker (an activity adapts them)',
};
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
    files: ['src/agents/**/*.ts', 'src/secrets/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [hostLibrary] }] },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [deterministic, activitiesAsTypes] }] },
  },
  {
    files: workflowImported,
    rules: { 'no-restricted-imports': ['error', { patterns: [deterministic, missionLayer] }] },
  },
);
