/**
 * Loading a mission file: read, parse (YAML or JSON), validate (zod + cross-field rules), resolve
 * paths and defaults, check the repository and base branch. Client-side only (Node APIs).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import execa from 'execa';
import { CycleError, planWaves } from '../mission/plan';
import { crossCheck } from './cross-check';
import { parseDuration } from '../mission/duration';
import { MissionFileError } from './errors';
import { readMission } from './parse';
import { checkRepo, copyProblems } from './repo-checks';
import { AgentSpec, MissionSpec, NotifyTarget, TaskSpec } from '../mission/types';
import { DEFAULTS, ID_PATTERN, RawAgent, type RawMission } from './schema';
import { serializeOverlaps } from './touches';

export { DEFAULTS, MAX_PROMPT_BYTES } from './schema';

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

/** An agent of the mission file with every default applied: `override` over `base` over {@link DEFAULTS}. */
export function mergeAgent(base: RawAgent | undefined, override: RawAgent | undefined): AgentSpec {
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
    // Absent for `none`, the default.
    ...(a.sandbox === 'bwrap' ? { sandbox: a.sandbox } : {}),
  };
}

/**
 * Where `origin:` points, as every host's git will read it: a URL (`scheme://…`) or scp-like
 * address (`user@host:path`, `host:path`) unchanged, anything else a path relative to the mission
 * file, made absolute.
 */
export function originLocation(origin: string, dir: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(origin)) return origin;
  // git's own rule (`man git-clone`, GIT URLS): a colon before the first slash is scp-like syntax.
  const colon = origin.indexOf(':');
  const slash = origin.indexOf('/');
  if (colon > 0 && (slash < 0 || colon < slash)) return origin;
  return path.resolve(dir, origin);
}

/**
 * Checks that `origin` answers `git ls-remote` (20 s at most, never prompting for credentials)
 * and has the base branch; returns the base: `base`, or the origin's default branch (its HEAD).
 * @throws MissionFileError on the `origin` or `base` field
 */
async function checkOrigin(file: string, origin: string, base: string | undefined): Promise<string> {
  const r = await execa('git', ['ls-remote', '--symref', origin, 'HEAD', 'refs/heads/*'], {
    reject: false,
    timeout: 20_000,
    env: { GIT_TERMINAL_PROMPT: '0', GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes' },
  });
  if (r.exitCode !== 0) {
    const lines = (r.stderr || r.stdout || `git exited ${r.exitCode}`).trim().split('\n');
    // git's first `fatal:` line says what is wrong; the advice after it is generic.
    const why = (lines.find((l) => l.startsWith('fatal: ')) ?? lines[0]).replace(/^fatal: /, '');
    throw new MissionFileError(file, [
      {
        path: 'origin',
        reason: `git cannot read ${origin}: ${why}`,
        fix: 'point origin at a git repository every worker host can fetch from and push to (a bare repository or a Git server URL)',
      },
    ]);
  }
  const lines = r.stdout.split('\n');
  const heads = lines.map((l) => /^[0-9a-f]+\trefs\/heads\/(.+)$/.exec(l)?.[1]).filter((b): b is string => !!b);
  if (base === undefined) {
    const head = lines.map((l) => /^ref: refs\/heads\/(\S+)\tHEAD$/.exec(l)?.[1]).find((b) => !!b);
    if (head && heads.includes(head)) return head;
    throw new MissionFileError(file, [
      {
        path: 'base',
        reason: `${origin} has no default branch (${heads.length ? 'its HEAD names none of its branches' : 'it has no branches'})`,
        fix: heads.length
          ? `set \`base:\` to one of: ${heads.slice(0, 8).join(', ')}`
          : 'push a base branch to the origin first',
      },
    ]);
  }
  if (!heads.includes(base)) {
    throw new MissionFileError(file, [
      {
        path: 'base',
        reason: `unknown branch "${base}" in ${origin}`,
        fix: `use a branch of the origin (${heads.slice(0, 8).join(', ') || 'none'}), or leave base out to use its default branch`,
      },
    ]);
  }
  return base;
}

/**
 * The mission's tasks with every default applied (agent, iterations, checkpoint period), ordered
 * after the tasks their `touches` overlap, and the plan's waves.
 * @throws MissionFileError when the dependencies form a cycle
 */
function tasksOf(raw: RawMission, dir: string, file: string): { tasks: TaskSpec[]; waves: string[][] } {
  const checkpointDefault = raw.checkpointEvery ?? DEFAULTS.checkpointEvery;
  const tasks: TaskSpec[] = serializeOverlaps(
    raw.tasks.map((t) => ({
      id: t.id,
      title: t.title ?? t.id,
      prompt: t.prompt ?? readFileSync(path.resolve(dir, t.promptFile!), 'utf8'),
      dependsOn: [...(t.dependsOn ?? [])],
      verify: t.verify ?? [],
      maxIterations: t.maxIterations ?? DEFAULTS.maxIterations,
      agent: mergeAgent(raw.agent, t.agent),
      checkpointEveryMs: parseDuration(t.checkpointEvery ?? checkpointDefault)!,
      touches: [...(t.touches ?? [])],
      ...((t.ports ?? raw.ports) ? { ports: t.ports ?? raw.ports } : {}),
    })),
  );
  try {
    return { tasks, waves: planWaves(tasks) };
  } catch (err) {
    if (err instanceof CycleError) {
      throw new MissionFileError(file, [
        { path: 'tasks', reason: err.message, fix: 'remove one of these dependencies' },
      ]);
    }
    throw err;
  }
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
  const raw = readMission(file);

  const problems = crossCheck(raw, dir, opts.scaffoldRoot);
  const id = opts.idOverride ?? raw.id ?? path.basename(dir).toLowerCase();
  if (!ID_PATTERN.test(id)) {
    problems.push({
      path: opts.idOverride ? '--id' : 'id',
      reason: `"${id}" is not a valid mission id`,
      fix: `use lowercase letters, digits and dashes (at most 63), e.g. \`${opts.idOverride ? '--id my-mission' : 'id: my-mission'}\``,
    });
  }
  if (problems.length > 0) throw new MissionFileError(file, problems);

  const scaffoldDir = raw.scaffold ? path.resolve(dir, raw.scaffold) : undefined;
  let repo: string;
  let base = raw.base ?? (scaffoldDir ? 'main' : '');
  const origin = raw.origin !== undefined ? originLocation(raw.origin, dir) : undefined;
  if (origin !== undefined) {
    repo = origin;
    if (opts.checkRepo ?? true) base = await checkOrigin(file, origin, raw.base);
  } else if (raw.repo) repo = path.resolve(dir, raw.repo);
  else if (scaffoldDir) repo = path.join(opts.scaffoldRoot ?? path.join(dir, '.flotilla-repos'), id);
  else repo = dir;
  // A scaffolded repository does not exist before `run` creates it; then there is nothing to check.
  if (origin === undefined && (opts.checkRepo ?? true) && !(scaffoldDir && !existsSync(repo))) {
    const checked = await checkRepo(file, repo, raw.base, raw.repo !== undefined);
    repo = checked.repo;
    base = checked.base;
    const copyWrong = copyProblems(raw.copy ?? [], repo);
    if (copyWrong.length > 0) throw new MissionFileError(file, copyWrong);
  }

  const { tasks, waves } = tasksOf(raw, dir, file);
  const spec: MissionSpec = {
    id,
    repo,
    ...(origin !== undefined
      ? { origin, hostLostAfterMs: parseDuration(raw.hostLostAfter ?? DEFAULTS.hostLostAfter)! }
      : {}),
    base,
    concurrency: raw.concurrency ?? DEFAULTS.concurrency,
    setup: raw.setup ?? [],
    copy: raw.copy ?? [],
    verify: raw.verify ?? [],
    ...(raw.env ? { env: [...raw.env] } : {}),
    policy: { ...DEFAULTS.policy, ...(raw.policy ?? {}) },
    budgetUsd: raw.budget?.usd,
    ...(raw.ports ? { ports: raw.ports } : {}),
    // The links are the client's to know (start.ts `withNotifyLinks`).
    ...(raw.notify?.length ? { notify: { targets: raw.notify as NotifyTarget[], webUi: null, report: null } } : {}),
    resolver: mergeAgent(raw.agent, raw.resolver),
    land: raw.land ?? DEFAULTS.land,
    keepWorktrees: raw.keepWorktrees ?? DEFAULTS.keepWorktrees,
    tasks,
    sourceFile: file,
  };
  return { spec, waves, scaffoldDir, file };
}
