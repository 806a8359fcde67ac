/**
 * The one git runner of Flotilla's host code: git processes started by spawn.ts's spawner (a small
 * process: starting them from the worker costs several ms each), with exit codes (never
 * simple-git: it sleeps 50 ms after every command that prints nothing, which inside the
 * repository lock added ~350 ms per worktree): argv arrays, paths taken literally on request (`literal`), and a commit
 * identity when the repository has none (agents' work must always be committable). The
 * per-repository lock is repo-lock.ts.
 */
import { HostFailure } from './failure';
import path from 'node:path';
import { ErrorType } from '../mission/error-types';
import { gitDirsOf } from './git-dirs';
import { runGit, stripFinalNewline } from './spawn';
import { withoutUrlCredentials } from '../mission/url-credentials';

const FALLBACK_IDENTITY = ['user.name=Flotilla', 'user.email=flotilla@localhost'];
const identityKnown = new Map<string, boolean>();

/**
 * `-c` values (`user.name=…`, `user.email=…`) to put before a git command run in `dir` when git
 * has no identity configured there, else none. Cached per repository: every worktree of a
 * repository reads the same configuration (its shared git directory's `config`, then the global
 * one), so a task's worktree asks no git process of its own.
 */
export async function identityConfig(dir: string): Promise<string[]> {
  const key = gitDirsOf(dir)?.common ?? dir;
  let has = identityKnown.get(key);
  if (has === undefined) {
    // Probe with the environment the git commands get (spawn.ts passes process.env explicitly), so
    // HOME, and with it the global config, is the one the commands will see.
    const probe = await runGit(['config', '--get', 'user.email'], { cwd: dir });
    has = probe.stdout.trim().length > 0 || !!process.env.GIT_AUTHOR_EMAIL;
    identityKnown.set(key, has);
  }
  return has ? [] : FALLBACK_IDENTITY;
}

/** A git command that exited non-zero: its arguments, exit code and what it printed. */
export class GitError extends Error {
  constructor(
    readonly args: string[],
    readonly dir: string,
    readonly exitCode: number,
    readonly output: string,
  ) {
    // An origin URL in the arguments (`git clone <origin>`) or quoted by git: no credentials in the text.
    super(
      withoutUrlCredentials(`git ${args.join(' ')} failed in ${dir} (exit ${exitCode}): ${output.trim().slice(-1000)}`),
    );
    this.name = 'GitError';
  }
}

export interface GitOptions {
  /** Extra environment (added to the worker's). */
  env?: Record<string, string>;
  /** Written to git's stdin (default: stdin closed). */
  input?: string;
  /** Put Flotilla's identity before the command when the repository has none (commits, merges). */
  identity?: boolean;
  /**
   * Take every pathspec literally (`GIT_LITERAL_PATHSPECS=1`, git(1)): a file name never becomes
   * pathspec magic (`:(exclude)…`, globs). For paths that come from files, agents or people.
   */
  literal?: boolean;
}

/** The environment of a git command run with `opts` (see {@link GitOptions.literal}). */
function gitEnv(opts: Pick<GitOptions, 'env' | 'literal'>): Record<string, string> | undefined {
  return opts.literal ? { GIT_LITERAL_PATHSPECS: '1', ...opts.env } : opts.env;
}

/**
 * Runs `git args` in `dir`.
 * @returns its stdout without the trailing newline
 * @throws GitError when git exits non-zero (or cannot start)
 */
export async function git(dir: string, args: string[], opts: GitOptions = {}): Promise<string> {
  const config = opts.identity ? (await identityConfig(dir)).flatMap((c) => ['-c', c]) : [];
  const r = await runGit([...config, ...args], { cwd: dir, env: gitEnv(opts), input: opts.input });
  const stdout = stripFinalNewline(r.stdout);
  if (r.exitCode !== 0)
    throw new GitError(args, dir, r.exitCode ?? -1, stripFinalNewline(r.stderr) || stdout || r.message || '');
  return stdout;
}

/** What {@link gitResult} returns: git's exit code and its whole stdout and stderr. */
export interface GitResult {
  code: number;
  /** stdout, its final newline kept (a `-z` list ends in NUL, a file's content in its own newline). */
  out: string;
  err: string;
}

/**
 * Runs `git args` in `dir` and returns its exit code and output instead of throwing: for answers
 * given by exit codes (`update-ref` refused, `worktree remove` refused, `merge` with conflicts).
 */
export async function gitResult(
  dir: string,
  args: string[],
  opts: Pick<GitOptions, 'env' | 'literal' | 'input'> = {},
): Promise<GitResult> {
  const r = await runGit(args, { cwd: dir, env: gitEnv(opts), input: opts.input });
  return { code: r.exitCode ?? 1, out: r.stdout, err: r.stderr || (r.message ?? '') };
}

/**
 * Runs git in `dir` and returns its exit code and output instead of throwing: for commands whose
 * non-zero exit is an answer (a merge with conflicts prints them on stdout and exits 1). Uses
 * Flotilla's identity where the repository has none.
 */
export async function gitRun(dir: string, args: string[]): Promise<{ exitCode: number; output: string }> {
  const config = (await identityConfig(dir)).flatMap((c) => ['-c', c]);
  const r = await runGit([...config, ...args], { cwd: dir });
  return { exitCode: r.exitCode ?? 1, output: stripFinalNewline(r.all) || (r.message ?? '') };
}

/**
 * Runs a git predicate (`merge-base --is-ancestor`, `rev-parse --verify --quiet`) and reports
 * whether it exited 0: how these commands say yes or no.
 */
export async function gitSucceeds(dir: string, args: string[]): Promise<boolean> {
  return (await runGit(args, { cwd: dir })).exitCode === 0;
}

/** The commit SHA `ref` points at in the repository of `dir`, or undefined when it does not exist. */
export async function resolveRef(dir: string, ref: string): Promise<string | undefined> {
  const r = await runGit(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd: dir });
  return (r.exitCode === 0 && r.stdout.trim()) || undefined;
}

/**
 * What each of `refs` (full names) holds, in one `git for-each-ref` (refs that do not exist are
 * absent from the map); with `mergedInto`, only the refs whose tips that commit contains
 * (`--merged`, git-for-each-ref(1)). Patterns match as prefixes, so only exact names are kept.
 * @throws GitError when git fails
 */
export async function refValues(repo: string, refs: string[], mergedInto?: string): Promise<Map<string, string>> {
  const args = ['for-each-ref', '--format=%(objectname) %(refname)', ...(mergedInto ? [`--merged=${mergedInto}`] : [])];
  const out = await git(repo, [...args, ...refs]);
  const wanted = new Set(refs);
  const values = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [sha, name] = line.split(' ');
    if (name && wanted.has(name)) values.set(name, sha);
  }
  return values;
}

/** `git diff --shortstat from...to` (what `to` changed since its merge base with `from`) as numbers. */
export async function diffstat(
  dir: string,
  from: string,
  to: string,
): Promise<{ files: number; insertions: number; deletions: number }> {
  // Three dots: changes on `to` since it forked from `from`. A retried task's branch started
  // from an older integration SHA than the one it is given now; its own work is what counts.
  const out = await git(dir, ['diff', '--shortstat', `${from}...${to}`]);
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
  return {
    files: num(/(\d+) files? changed/),
    insertions: num(/(\d+) insertions?/),
    deletions: num(/(\d+) deletions?/),
  };
}

/** A git failure of a checkpoint or commit step, with what git said. */
export class GitStepError extends Error {}

/**
 * Exclude pathspecs for `git add --all -- .`, one per `exclude` path that is not ignored anyway.
 * An exclude pathspec naming a path .gitignore ignores (the usual `.env`) makes `git add` fail
 * ("The following paths are ignored…"), and `add --all` skips such a path by itself.
 * `env` selects the index (tracked paths are never reported as ignored).
 * @throws GitStepError when `git check-ignore` fails
 */
export async function excludePathspecs(
  dir: string,
  exclude: string[],
  env: Record<string, string> = {},
): Promise<string[]> {
  const paths = exclude.filter((p) => p.trim() !== '');
  if (paths.length === 0) return [];
  const r = await runGit(['check-ignore', '--', ...paths], { cwd: dir, env });
  // check-ignore exits 1 when nothing is ignored; anything else but 0 is an error.
  if (r.exitCode !== 0 && r.exitCode !== 1)
    throw new GitStepError(`git check-ignore failed in ${dir}: ${stripFinalNewline(r.stderr) || r.message}`);
  const ignored = new Set(r.stdout.split('\n').filter(Boolean));
  return paths.filter((p) => !ignored.has(p)).map((p) => `:(exclude,literal)${p}`);
}

const commonDirs = new Map<string, string>();

/** The repository's shared git directory (`.git` of the main worktree), absolute. */
export async function gitCommonDir(repo: string): Promise<string> {
  let dir = commonDirs.get(repo);
  if (!dir) {
    dir = path.resolve(repo, (await git(repo, ['rev-parse', '--git-common-dir'])).trim());
    commonDirs.set(repo, dir);
  }
  return dir;
}

let versionProbe: Promise<number[]> | undefined;

/**
 * Checks that the host's git is at least `major.minor`, for a command that needs it (`merge-tree
 * --write-tree`, `--name-only` and `-z`: git 2.38, see git-merge-tree(1)). The version is read
 * once per process from `git --version` ("git version 2.39.5", also "2.39.5.windows.1" and
 * "2.39.5 (Apple Git-143)").
 * @throws non-retryable `GitTooOld` naming the version found and what needs the newer one
 */
export async function requireGitVersion(major: number, minor: number, feature: string): Promise<void> {
  versionProbe ??= runGit(['--version']).then((r) => (/(\d+)\.(\d+)/.exec(r.stdout) ?? []).slice(1).map(Number));
  const [maj, min] = await versionProbe;
  if (maj === undefined || min === undefined) {
    versionProbe = undefined; // git missing or unreadable: ask again next time
    throw new Error(`cannot tell the version of git (\`git --version\`), which ${feature} needs`);
  }
  if (maj > major || (maj === major && min >= minor)) return;
  throw HostFailure.nonRetryable(
    `${feature} needs git >= ${major}.${minor}; this host has git ${maj}.${min}: upgrade git on the worker's host`,
    ErrorType.GitTooOld,
  );
}

/** True when commit `a` is an ancestor of (or equal to) commit `b` in the repository of `dir`. */
export function isAncestor(dir: string, a: string, b: string): Promise<boolean> {
  return gitSucceeds(dir, ['merge-base', '--is-ancestor', a, b]);
}
