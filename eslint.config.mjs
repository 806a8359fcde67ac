// typescript-eslint with type information and prettier, in the spirit of temporalio/samples-typescript.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

// The deterministic layers, fenced by folder: src/mission (the mission's pure rules and shapes)
// and src/workflows run in Temporal's workflow sandbox, so everything in them may import only
// relative modules and Temporal's workflow-side packages: no Node API, no I/O, no other package.
// test/unit/workflow-fence.test.ts walks the workflows' import graph and proves it never leaves
// these two folders, and that ESLint gives every file it reaches this rule.
const deterministic = {
  regex: '^(?!\\.{1,2}/|@temporalio/(workflow|common)$)',
  message:
    'src/mission and src/workflows are deterministic (Temporal runs them in its workflow sandbox): relative modules and @temporalio/workflow or /common only, no Node API, no I/O, no other package',
};
// What lies above a layer, as an import string from a file `up` folders below src/ (`\.\./` per
// level): from src/workflows/x.ts `../activities` is src/activities, while from
// src/workflows/task/x.ts it is the workflows' own activity proxies (src/workflows/activities.ts).
const above = (up, layers, message) => ({ regex: `^${up}(${layers.join('|')})(/|$)`, message });
// src/mission is the lowest layer: everything else imports it, it imports nothing of theirs.
const missionBelowAll = above(
  '(\\.\\./)+',
  ['activities', 'workflows', 'client', 'worker', 'mission-file', 'agents', 'secrets', 'git'],
  'src/mission is the lowest layer: it imports no other layer',
);
// Workflows know activities by their shapes only (the proxies take the types), and nothing of the
// client, the worker or the mission-file loader.
const workflowsAbove = (up) => [
  { ...above(up, ['activities'], ''), allowTypeImports: true, message: 'workflows import activities as types only' },
  above(
    up,
    ['client', 'worker', 'mission-file', 'agents', 'secrets', 'git'],
    'workflows import no client, worker, mission-file or host-library code',
  ),
];
// src/workflows/*.ts is what both workflows share; the task workflow knows nothing of the mission's.
const sharedBelowWorkflows = above('\\./', ['mission', 'task'], 'code both workflows share imports neither workflow');
const taskBelowMission = above(
  '\\.\\./',
  ['mission'],
  'the task workflow does not import the mission workflow (it reports by signal)',
);
// src/git (worktrees, refs, merges, the repository lock, landing), src/agents (runtimes, agent
// processes, transcripts, commands) and src/secrets (the secret rule, redaction) are host libraries
// under the activities: the activities, the worker and the CLI use them; they know nothing of
// Temporal or of the layers above them.
const hostLibrary = {
  regex: '^(\\.\\./)+(activities|workflows|client|worker)(/|$)|^@temporalio/',
  message:
    'src/git, src/agents and src/secrets are host libraries: no Temporal, no activities, workflows, client or worker (an activity adapts them)',
};
// The CLI runs where the repository is and calls the host libraries itself; the activities are
// Temporal adapters over the same code, which only the worker (src/worker) registers.
const clientAbove = {
  regex: '^(\\.\\./)+activities(/|$)',
  message:
    'the CLI never imports src/activities (Temporal adapters, for the worker): import the host library they adapt (src/git, src/agents, src/secrets)',
};
const restrict = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

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
  // Files a person can hold in a sitting (blank lines and comments count).
  {
    files: ['src/**/*.ts'],
    rules: { 'max-lines': ['error', { max: 350 }], 'max-lines-per-function': ['error', { max: 80 }] },
  },
  // A later block replaces an earlier one's options for the same rule: each lists all its patterns.
  { files: ['src/mission/**/*.ts'], rules: restrict(deterministic, missionBelowAll) },
  // index.ts, the bundle's entry point, exports both workflows; the rest of src/workflows/*.ts is shared.
  { files: ['src/workflows/index.ts'], rules: restrict(deterministic) },
  {
    files: ['src/workflows/*.ts'],
    ignores: ['src/workflows/index.ts'],
    rules: restrict(deterministic, ...workflowsAbove('\\.\\./'), sharedBelowWorkflows),
  },
  { files: ['src/workflows/*/*.ts'], rules: restrict(deterministic, ...workflowsAbove('\\.\\./\\.\\./')) },
  {
    files: ['src/workflows/task/*.ts'],
    rules: restrict(deterministic, ...workflowsAbove('\\.\\./\\.\\./'), taskBelowMission),
  },
  { files: ['src/git/**/*.ts', 'src/agents/**/*.ts', 'src/secrets/**/*.ts'], rules: restrict(hostLibrary) },
  { files: ['src/client/**/*.ts'], rules: restrict(clientAbove) },
  // The mission file's loader (Node, zod, git): the client's, above src/mission.
  {
    files: ['src/mission-file/**/*.ts'],
    rules: restrict(
      above('\\.\\./', ['activities', 'workflows', 'client', 'worker'], 'src/mission-file imports only src/mission'),
    ),
  },
);
