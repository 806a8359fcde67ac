// typescript-eslint with type information and prettier, in the spirit of temporalio/samples-typescript.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

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
    // Workflow code runs in Temporal's deterministic sandbox: no Node APIs, activities as types only.
    files: ['src/workflows/**/*.ts', 'src/mission/types.ts', 'src/mission/progress.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'os', 'child_process', 'simple-git', 'execa', 'zod', 'yaml'],
              message: 'workflow code must stay deterministic: no I/O or Node APIs',
            },
            {
              group: ['../activities', '../activities/*'],
              allowTypeImports: true,
              message: 'import activities as types only',
            },
          ],
        },
      ],
    },
  },
);
