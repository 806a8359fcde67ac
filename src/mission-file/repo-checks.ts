/**
 * The mission's repository on disk, checked before anything starts: a git checkout (not bare, not
 * its `.git` folder) with commits, a base branch that exists, and `copy:` files that exist inside
 * it. Read-only: these checks run git commands that never write to the repository. Client-side
 * only (Node APIs).
 */
import { existsSync, lstatSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import execa from 'execa';
import { MissionFileError, MissionProblem, someOf } from './errors';

/** `git args` in `dir`: its exit code and trimmed stdout (never prompts, never throws). */
async function gitIn(dir: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await execa('git', args, { cwd: dir, reject: false, stdin: 'ignore' });
  return { ok: r.exitCode === 0, out: r.stdout.trim() };
}

/** Whether `child` is `parent` or lies under it (both absolute). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel));
}

/**
 * Resolves `repo` to its absolute top-level directory and `base` to a branch that exists (the
 * checked-out branch when `base` is undefined).
 * @param named whether the mission file names it (`repo:`); else it is the mission file's folder
 * @throws MissionFileError naming `repo` or `base`
 */
export async function checkRepo(
  file: string,
  repo: string,
  base: string | undefined,
  named: boolean,
): Promise<{ repo: string; base: string }> {
  const fail = (reason: string, fix: string, at = 'repo'): never => {
    throw new MissionFileError(file, [{ path: at, reason, fix }]);
  };
  const where = named ? 'repo is relative to the mission file; point it' : 'add `repo:` pointing';
  if (!existsSync(repo) || !statSync(repo).isDirectory())
    fail(`not a directory: ${repo}`, `${where} at a git repository (a checkout)`);
  const kind = await gitIn(repo, ['rev-parse', '--is-bare-repository', '--is-inside-git-dir']);
  if (!kind.ok) fail(`not a git repository: ${repo}`, `run \`git init\` there and commit, or ${where} at one`);
  const [bare, insideGitDir] = kind.out.split('\n');
  if (bare === 'true')
    fail(
      `${repo} is a bare repository: agents need a checkout (a work tree) to work in`,
      'point repo at a clone of it (`git clone <bare> app`), or name it in `origin:` so every host clones it',
    );
  if (insideGitDir === 'true')
    fail(`${repo} is inside a .git folder`, 'point repo at the folder that holds .git (the checkout)');
  const top = (await gitIn(repo, ['rev-parse', '--show-toplevel'])).out;
  if (!(await gitIn(top, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'])).ok)
    fail(`the repository has no commits: ${top}`, 'commit something first; tasks branch from the base branch');
  if (base === undefined) {
    const head = await gitIn(top, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
    if (!head.ok || !head.out)
      fail(
        `${top} is on a detached HEAD, so there is no default base branch`,
        'set `base:` to a branch name (or check a branch out there)',
        'base',
      );
    return { repo: top, base: head.out };
  }
  if (!(await gitIn(top, ['rev-parse', '--verify', '--quiet', `refs/heads/${base}`])).ok) {
    const branches = (await gitIn(top, ['for-each-ref', '--format=%(refname:short)', 'refs/heads/'])).out;
    fail(
      `unknown branch "${base}" in ${top}`,
      `use an existing local branch (${someOf(branches ? branches.split('\n') : [], 8) || 'none'}), or leave base out to use the checked-out one`,
      'base',
    );
  }
  return { repo: top, base };
}

/**
 * `copy:` names files of the user's checkout that every worktree gets (e.g. `.env`): relative
 * paths inside the repository, outside `.git`. With the repository on disk (`repo`), each must be
 * a file there whose real path (symbolic links followed) stays inside it: the copy activity
 * skips anything else silently, so a typo would go unnoticed.
 */
export function copyProblems(copy: string[], repo?: string): MissionProblem[] {
  const problems: MissionProblem[] = [];
  const realRepo = repo && existsSync(repo) ? realpathSync(repo) : undefined;
  copy.forEach((rel, i) => {
    const at = `copy[${i}]`;
    const parts = path.normalize(rel).split(/[\\/]/);
    if (path.isAbsolute(rel) || parts.includes('..') || parts[0] === '.git' || parts[0] === '.') {
      problems.push({
        path: at,
        reason: `"${rel}" is not a path inside the repository (outside .git)`,
        fix: 'copy takes paths relative to the repository root, such as .env or config/local.json',
      });
      return;
    }
    if (!realRepo) return;
    const abs = path.join(realRepo, rel);
    if (!existsSync(abs) && !isSymlink(abs))
      problems.push({
        path: at,
        reason: `${rel} does not exist in ${realRepo}`,
        fix: 'create it there (it is copied into every worktree), or remove it from copy',
      });
    else if (!existsSync(abs) || !isInside(realRepo, realpathSync(abs)))
      problems.push({
        path: at,
        reason: `${rel} is a symbolic link that leads out of the repository`,
        fix: 'copy only files that live in the repository',
      });
    else if (!statSync(abs).isFile())
      problems.push({
        path: at,
        reason: `${rel} is not a file (copy takes files, not folders)`,
        fix: 'list the files themselves, e.g. config/local.json',
      });
  });
  return problems;
}

const isSymlink = (p: string): boolean => {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
};
