/**
 * Loading a mission file: read, parse (YAML or JSON), validate (zod + cross-field rules), resolve
 * paths and defaults, check the repository and base branch. Client-side only (Node APIs).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import YAML from 'yaml';
import type { ZodError } from 'zod';
import execa from 'execa';
import { CycleError, findCycle, planWaves } from './plan';
import { parseDuration } from './duration';
import { formatPath, MissionFileError, MissionProblem } from './errors';
import { AgentSpec, MissionSpec, TaskSpec } from './types';
import { ID_PATTERN, missionSchema, RawAgent, RawMission } from './schema';

/** Whether `git args` exits 0 in `dir` (rev-parse --verify --quiet answers "no" with exit 1). */
async function gitSays(dir: string, args: string[]): Promise<boolean> {
  const r = await execa('git', args, { cwd: dir, reject: false, stdin: 'ignore' });
  return r.exitCode === 0;
}

/** Largest prompt, bytes: prompts are workflow inputs, and Temporal caps a payload at 2 MB. */
export const MAX_PROMPT_BYTES = 64 * 1024;

/** Defaults for fields the mission file leaves out (documented in README.md). */
export const DEFAULTS = {
  concurrency: 3,
  agent: { runtime: 'claude', args: [], env: [], timeout: '2h', idleTimeout: '10m', retries: 3 },
  maxIterations: 3,
  checkpointEvery: '5m',
  policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'pause' },
} as const;

export interface LoadOptions {
  /** `--id`: overrides the file's `id`. */
  idOverride?: string;
  /**
   * Check the repository and base branch on disk (true for run/start/validate). With a
   * `scaffold`, the repository does not exist until `run` creates it, so it is not checked.
   */
  checkRepo?: boolean;
  /** Where scaffolded repositories go (`$FLOTILLA_HOME/repos`). */
  scaffoldRoot?: string;
}

export interface LoadedMission {
  spec: MissionSpec;
  /** Task ids per wave, from {@link planWaves}. */
  waves: string[][];
  /** Absolute path of the scaffold directory, when the mission file has one. */
  scaffoldDir?: string;
  file: string;
}

function readText(file: string): string {
  if (!existsSync(file)) {
    throw new MissionFileError(file, [
      { path: '', reason: 'file not found', fix: 'check the path; mission files are YAML (.yaml, .yml) or JSON' },
    ]);
  }
  if (statSync(file).isDirectory()) {
    throw new MissionFileError(file, [
      { path: '', reason: 'is a directory', fix: 'pass the mission file itself, e.g. mission.yaml' },
    ]);
  }
  return readFileSync(file, 'utf8');
}

/** Parses YAML or JSON text into plain data; syntax errors name the line and column. */
export function parseMissionText(file: string, text: string): unknown {
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new MissionFileError(file, [
        { path: '', reason: `not valid JSON: ${(err as Error).message}`, fix: 'fix the JSON syntax' },
      ]);
    }
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new MissionFileError(
      file,
      doc.errors.map((e) => ({
        path: '',
        reason: `not valid YAML: ${e.message.split('\n')[0]}`,
        fix: 'fix the YAML syntax at the line and column given',
      })),
    );
  }
  return doc.toJS();
}

function zodProblems(error: ZodError): MissionProblem[] {
  return error.issues.map((issue) => {
    const at = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.join(', ');
      return {
        path: at ? `${at}.${issue.keys[0]}` : issue.keys[0],
        reason: `unknown field${issue.keys.length > 1 ? 's' : ''}: ${keys}`,
        fix: 'remove it or check its spelling; the fields are listed in README.md ("Mission file")',
      };
    }
    if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
      return { path: at, reason: 'is required', fix: `add \`${at}\`` };
    }
    return { path: at, reason: issue.message, fix: `change \`${at || 'the file'}\` as the reason says` };
  });
}

function mergeAgent(base: RawAgent | undefined, override: RawAgent | undefined): AgentSpec {
  const a = { ...DEFAULTS.agent, ...(base ?? {}), ...(override ?? {}) };
  return {
    runtime: a.runtime,
    model: a.model,
    args: [...a.args],
    command: a.command ? [...a.command] : undefined,
    env: [...a.env],
    timeoutMs: parseDuration(a.timeout)!,
    idleTimeoutMs: parseDuration(a.idleTimeout)!,
    retries: a.retries,
  };
}

/** Cross-field rules zod cannot express; returns problems (empty when fine). */
function crossCheck(raw: RawMission, dir: string): MissionProblem[] {
  const problems: MissionProblem[] = [];
  if (raw.policy?.onMergeConflict === 'resolve') {
    // Accepted by the schema so that files written for the resolver agent read well, but until
    // it exists `resolve` would silently do what `pause` does.
    problems.push({
      path: 'policy.onMergeConflict',
      reason: '`resolve` (a resolver agent that merges conflicting branches) is not available in this version',
      fix: 'use `pause` (the mission blocks until you make the branch merge and run `flotilla resume`) or `fail`',
    });
  }
  const ids = raw.tasks.map((t) => t.id);
  const seen = new Map<string, number>();
  raw.tasks.forEach((t, i) => {
    const first = seen.get(t.id);
    if (first !== undefined) {
      problems.push({
        path: `tasks[${i}].id`,
        reason: `duplicate task id "${t.id}" (also tasks[${first}].id)`,
        fix: 'give every task its own id',
      });
    } else seen.set(t.id, i);
    (t.dependsOn ?? []).forEach((dep, j) => {
      if (dep === t.id) {
        problems.push({
          path: `tasks[${i}].dependsOn[${j}]`,
          reason: `task "${t.id}" depends on itself`,
          fix: 'remove it',
        });
      } else if (!ids.includes(dep)) {
        problems.push({
          path: `tasks[${i}].dependsOn[${j}]`,
          reason: `unknown task "${dep}"`,
          fix: `use one of the task ids: ${ids.join(', ')}`,
        });
      }
    });
    if (t.prompt === undefined && t.promptFile === undefined) {
      problems.push({
        path: `tasks[${i}].prompt`,
        reason: 'is required (or promptFile)',
        fix: 'add `prompt:` text or a `promptFile:` path',
      });
    }
    if (t.prompt !== undefined && t.promptFile !== undefined) {
      problems.push({
        path: `tasks[${i}].promptFile`,
        reason: 'both prompt and promptFile are set',
        fix: 'keep one of them',
      });
    }
    const promptPath = t.promptFile !== undefined ? path.resolve(dir, t.promptFile) : undefined;
    if (promptPath !== undefined && !(existsSync(promptPath) && statSync(promptPath).isFile())) {
      problems.push({
        path: `tasks[${i}].promptFile`,
        reason: existsSync(promptPath) ? `not a file: ${promptPath}` : `file not found: ${promptPath}`,
        fix: 'promptFile is relative to the mission file; check the path',
      });
    }
    const promptSize =
      t.prompt !== undefined
        ? Buffer.byteLength(t.prompt)
        : promptPath && existsSync(promptPath) && statSync(promptPath).isFile()
          ? statSync(promptPath).size
          : 0;
    if (promptSize > MAX_PROMPT_BYTES) {
      problems.push({
        path: `tasks[${i}].${t.prompt !== undefined ? 'prompt' : 'promptFile'}`,
        reason: `the prompt is ${Math.round(promptSize / 1024)} KiB; at most ${MAX_PROMPT_BYTES / 1024} KiB (prompts travel in Temporal history)`,
        fix: 'put the bulk in a file in the repository and have the prompt point the agent at it',
      });
    }
    const agent = { ...DEFAULTS.agent, ...(raw.agent ?? {}), ...(t.agent ?? {}) };
    if (agent.runtime === 'command' && !agent.command) {
      problems.push({
        path: t.agent?.runtime ? `tasks[${i}].agent.command` : 'agent.command',
        reason: 'runtime "command" needs a command',
        fix: 'add `command: [bash, -c, "..."]` (the prompt arrives in $FLOTILLA_PROMPT)',
      });
    }
    if (agent.runtime !== 'command' && t.agent?.command) {
      problems.push({
        path: `tasks[${i}].agent.command`,
        reason: `command is only used by runtime "command" (this task's runtime is "${agent.runtime}")`,
        fix: 'remove it, or set `runtime: command`',
      });
    }
  });
  if (raw.agent?.command && (raw.agent.runtime ?? DEFAULTS.agent.runtime) !== 'command') {
    const anyCommandTask = raw.tasks.some((t) => t.agent?.runtime === 'command');
    if (!anyCommandTask) {
      problems.push({
        path: 'agent.command',
        reason: `command is only used by runtime "command" (the runtime is "${raw.agent.runtime ?? DEFAULTS.agent.runtime}")`,
        fix: 'remove it, or set `agent.runtime: command`',
      });
    }
  }
  const cycle = findCycle(raw.tasks.map((t) => ({ id: t.id, dependsOn: t.dependsOn ?? [] })));
  if (cycle) {
    const i = raw.tasks.findIndex((t) => t.id === cycle[0]);
    problems.push({
      path: `tasks[${i}].dependsOn`,
      reason: `dependency cycle: ${cycle.join(' -> ')}`,
      fix: 'remove one of these dependencies so the tasks can be ordered',
    });
  }
  (raw.copy ?? []).forEach((rel, i) => {
    if (path.isAbsolute(rel) || path.normalize(rel).split(path.sep).includes('..')) {
      problems.push({
        path: `copy[${i}]`,
        reason: `"${rel}" is not a path inside the repository`,
        fix: 'copy takes paths relative to the repository root, such as .env or config/local.json',
      });
    }
  });
  if (raw.scaffold !== undefined) {
    const scaffoldDir = path.resolve(dir, raw.scaffold);
    if (!existsSync(scaffoldDir) || !statSync(scaffoldDir).isDirectory()) {
      problems.push({
        path: 'scaffold',
        reason: `not a directory: ${scaffoldDir}`,
        fix: 'scaffold is relative to the mission file; check the path',
      });
    }
  }
  return problems;
}

/** Resolves `repo` to its absolute top-level directory and `base` to a branch that exists. */
async function checkRepo(
  file: string,
  repo: string,
  base: string | undefined,
  fieldRepo: string,
): Promise<{ repo: string; base: string }> {
  if (!existsSync(repo) || !statSync(repo).isDirectory()) {
    throw new MissionFileError(file, [
      {
        path: fieldRepo,
        reason: `not a directory: ${repo}`,
        fix: 'repo is relative to the mission file; point it at a git repository',
      },
    ]);
  }
  const git = simpleGit({ baseDir: repo });
  let top: string;
  try {
    top = (await git.revparse(['--show-toplevel'])).trim();
  } catch {
    throw new MissionFileError(file, [
      {
        path: fieldRepo,
        reason: `not a git repository: ${repo}`,
        fix: `run \`git init\` there and commit, or point repo at a git repository`,
      },
    ]);
  }
  if (!(await gitSays(top, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}']))) {
    throw new MissionFileError(file, [
      {
        path: fieldRepo,
        reason: `the repository has no commits: ${top}`,
        fix: 'commit something first; tasks branch from the base branch',
      },
    ]);
  }
  let branch = base;
  if (!branch) {
    const head = (await git.raw(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
    if (!head) {
      throw new MissionFileError(file, [
        {
          path: 'base',
          reason: `${top} is on a detached HEAD, so there is no default base branch`,
          fix: 'set `base:` to a branch name',
        },
      ]);
    }
    branch = head;
  } else {
    const ok = await gitSays(top, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
    if (!ok) {
      const branches = (await git.branchLocal()).all;
      throw new MissionFileError(file, [
        {
          path: 'base',
          reason: `unknown branch "${branch}" in ${top}`,
          fix: `use an existing local branch (${branches.slice(0, 8).join(', ') || 'none'}), or leave base out to use the checked-out one`,
        },
      ]);
    }
  }
  return { repo: top, base: branch };
}

/**
 * Loads and validates a mission file.
 *
 * @throws MissionFileError for every user mistake (file, field path, reason, fix); nothing else
 *   is thrown for bad input.
 */
export async function loadMission(fileArg: string, opts: LoadOptions = {}): Promise<LoadedMission> {
  const file = path.resolve(fileArg);
  const dir = path.dirname(file);
  const data = parseMissionText(file, readText(file));
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new MissionFileError(file, [
      { path: '', reason: 'must be a mapping (id:, tasks:, ...)', fix: 'see examples/quickstart/mission.yaml' },
    ]);
  }
  const parsed = missionSchema.safeParse(data);
  if (!parsed.success) throw new MissionFileError(file, zodProblems(parsed.error));
  const raw = parsed.data;

  const problems = crossCheck(raw, dir);
  const id = opts.idOverride ?? raw.id ?? path.basename(dir).toLowerCase();
  if (!ID_PATTERN.test(id)) {
    problems.push({
      path: opts.idOverride ? '--id' : 'id',
      reason: `"${id}" is not a valid mission id`,
      fix: 'use lowercase letters, digits and dashes (at most 63), e.g. `id: my-mission`',
    });
  }
  if (problems.length > 0) throw new MissionFileError(file, problems);

  const scaffoldDir = raw.scaffold ? path.resolve(dir, raw.scaffold) : undefined;
  let repo: string;
  if (raw.repo) repo = path.resolve(dir, raw.repo);
  else if (scaffoldDir) repo = path.join(opts.scaffoldRoot ?? path.join(dir, '.flotilla-repos'), id);
  else repo = dir;
  let base = raw.base ?? (scaffoldDir ? 'main' : '');
  // A scaffolded repository does not exist before `run` creates it; then there is nothing to check.
  if ((opts.checkRepo ?? true) && !(scaffoldDir && !existsSync(repo))) {
    const checked = await checkRepo(file, repo, raw.base, 'repo');
    repo = checked.repo;
    base = checked.base;
  }

  const checkpointDefault = raw.checkpointEvery ?? DEFAULTS.checkpointEvery;
  const tasks: TaskSpec[] = raw.tasks.map((t) => ({
    id: t.id,
    title: t.title ?? t.id,
    prompt: t.prompt ?? readFileSync(path.resolve(dir, t.promptFile!), 'utf8'),
    dependsOn: [...(t.dependsOn ?? [])],
    verify: t.verify ?? [],
    maxIterations: t.maxIterations ?? DEFAULTS.maxIterations,
    agent: mergeAgent(raw.agent, t.agent),
    checkpointEveryMs: parseDuration(t.checkpointEvery ?? checkpointDefault)!,
  }));
  let waves: string[][];
  try {
    waves = planWaves(tasks);
  } catch (err) {
    if (err instanceof CycleError) {
      throw new MissionFileError(file, [
        { path: 'tasks', reason: err.message, fix: 'remove one of these dependencies' },
      ]);
    }
    throw err;
  }
  const spec: MissionSpec = {
    id,
    repo,
    base,
    concurrency: raw.concurrency ?? DEFAULTS.concurrency,
    setup: raw.setup ?? [],
    copy: raw.copy ?? [],
    verify: raw.verify ?? [],
    policy: { ...DEFAULTS.policy, ...(raw.policy ?? {}) },
    budgetUsd: raw.budget?.usd,
    tasks,
    sourceFile: file,
  };
  return { spec, waves, scaffoldDir, file };
}
