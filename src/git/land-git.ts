/**
 * The git plumbing of a landing: a merge without a worktree, the fast-forward of the local base
 * (the only thing landing ever does in a person's checkout), and a remote's tip and leased push.
 */
import execa from 'execa';
import { git, gitRun, resolveRef } from './git';
import type { Failed, NeedsHuman } from './land-types';
import { shellQuote } from '../mission/shell-quote';
import { worktreeChanges } from './worktree-safety';
import { describeOperation, holdersOf, operationAdvice } from './worktree-state';

export const short = (sha: string | null | undefined): string => (sha ? sha.slice(0, 8) : '(none)');
export const lines = (out: string): string[] =>
  out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
/** git never asks for credentials on a terminal that nobody watches (a worker, a test). */
const NO_PROMPT = { GIT_TERMINAL_PROMPT: '0' };

/**
 * Merges `theirs` (the moved base) into `ours` (the integration tip) without a worktree:
 * `git merge-tree --write-tree`, then `git commit-tree` with parents `ours`, `theirs`.
 * @returns the merge commit, or the conflicting paths
 * @throws GitError when git fails otherwise
 */
export async function mergeWithoutWorktree(
  repo: string,
  ours: string,
  theirs: string,
  message: string,
  date?: string,
): Promise<{ status: 'merged'; sha: string } | { status: 'conflict'; files: string[] }> {
  // Exit 1 is "conflicts" (stdout: the tree, then the conflicted paths); anything else failed.
  const r = await execa('git', ['merge-tree', '--write-tree', '--name-only', '--no-messages', ours, theirs], {
    cwd: repo,
    reject: false,
    stdin: 'ignore',
  });
  if (r.exitCode === 1) return { status: 'conflict', files: [...new Set(lines(r.stdout).slice(1))] };
  if (r.exitCode !== 0) throw new Error(`git merge-tree failed in ${repo}: ${r.stderr || r.stdout}`);
  const tree = lines(r.stdout)[0];
  const env = date ? { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } : undefined;
  const sha = (
    await git(repo, ['commit-tree', tree, '-p', ours, '-p', theirs, '-m', message], { identity: true, env })
  ).trim();
  return { status: 'merged', sha };
}

/**
 * The worktree that has `branch` checked out (or rebases or bisects it: git counts that as in
 * use, while `git worktree list` shows it detached), or null.
 * @throws GitError when git fails
 */
export async function checkoutOf(repo: string, branch: string): Promise<string | null> {
  return (await holdersOf(repo, branch))[0]?.path ?? null;
}

/**
 * Moves the local branch `base` from `from` to `to` (a descendant). Not in use by any worktree:
 * `git update-ref` with compare-and-swap. Used by a worktree while git is in the middle of
 * something there (a rebase or bisect of it, a merge, cherry-pick or revert on it): refused,
 * since the base would move under that operation (`git branch -f` refuses the same). Checked
 * out (the user's own checkout): only when its tracked files are unmodified, by `git merge
 * --ff-only` there, which updates the files the landing changes and nothing else (untracked
 * files stay; git refuses rather than overwrite one).
 * @param again the sentence that says how to run the landing again
 * @returns the worktree fast-forwarded (null: the ref alone moved), or why it did not move
 * @throws GitError when git fails unexpectedly
 */
export async function fastForwardBase(
  repo: string,
  base: string,
  from: string,
  to: string,
  missionId: string,
  again = `then run \`flotilla land ${missionId}\` again`,
): Promise<{ ok: true; checkout: string | null } | Failed | NeedsHuman> {
  const holders = await holdersOf(repo, base);
  const busy = holders.find((w) => w.operation);
  if (busy) {
    const op = busy.operation!;
    return {
      status: 'needs-human',
      reason: 'operation-in-progress',
      files: [],
      message:
        `${describeOperation(op)} is in progress in ${busy.path}${op.branch === base || busy.branch === base ? '' : ` (on ${base})`}, ` +
        `so mission ${missionId} cannot move ${base} now without moving it under that ${op.name}; nothing was changed. ` +
        `${operationAdvice(op, busy.path)}, ${again}`,
    };
  }
  const wt = holders.find((w) => w.branch === base)?.path;
  if (!wt) {
    const r = await gitRun(repo, ['update-ref', '-m', `flotilla land ${missionId}`, `refs/heads/${base}`, to, from]);
    if (r.exitCode !== 0)
      return {
        status: 'failed',
        reason: 'base-moved',
        message: `${base} moved while mission ${missionId} was landing (it no longer points at ${short(from)}); nothing was changed: ${again}`,
      };
    return { ok: true, checkout: null };
  }
  // Staged or modified tracked files: a fast-forward would have to merge them. Untracked files
  // are the user's and stay as they are.
  const files = (await worktreeChanges(repo, wt, [], { untracked: false })).modified;
  if (files.length > 0) {
    return {
      status: 'needs-human',
      reason: 'dirty-checkout',
      files,
      message:
        `${base} is checked out in ${wt} with uncommitted changes to tracked files (${files.join(', ')}), ` +
        `so mission ${missionId} cannot fast-forward it without touching your work; nothing was changed. ` +
        `Commit or stash them (\`git -C ${shellQuote(wt)} stash\`), ${again}; or land elsewhere with \`flotilla land ${missionId} --push REMOTE\``,
    };
  }
  const head = await resolveRef(wt, 'HEAD');
  if (head !== from)
    return {
      status: 'failed',
      reason: 'base-moved',
      message: `${base} moved while mission ${missionId} was landing (${wt} is at ${short(head)}, not ${short(from)}); nothing was changed: ${again}`,
    };
  const r = await gitRun(wt, ['merge', '--ff-only', '--quiet', to]);
  if (r.exitCode !== 0) {
    return {
      status: 'needs-human',
      reason: 'checkout-refused',
      files: [],
      message: `git refused to fast-forward ${base} in ${wt} to ${short(to)}; nothing was changed. git said:\n${r.output.trim()}\nMove what it names out of the way, ${again}`,
    };
  }
  return { ok: true, checkout: wt };
}

/** The remote a `push` landing goes to when none is given: the base's configured remote, else `origin`. */
export async function defaultRemote(repo: string, base: string): Promise<string> {
  const configured = (await git(repo, ['config', '--get', `branch.${base}.remote`]).catch(() => '')).trim();
  return configured && configured !== '.' ? configured : 'origin';
}

/**
 * The remote's tip of `branch`, fetched (objects and all) into a temporary ref so a merge can
 * use it; null when the remote has no such branch.
 * @throws GitError when the remote cannot be reached
 */
export async function fetchRemoteTip(
  repo: string,
  remote: string,
  branch: string,
  missionId: string,
): Promise<string | null> {
  const listed = await git(repo, ['ls-remote', '--heads', remote, `refs/heads/${branch}`], { env: NO_PROMPT });
  const sha = lines(listed)
    .find((l) => l.endsWith(`\trefs/heads/${branch}`))
    ?.split('\t')[0];
  if (!sha) return null;
  // A private ref, not FETCH_HEAD or remote-tracking branches: landing changes nothing of the user's.
  const tmp = `refs/flotilla/fetched/${missionId}`;
  await git(repo, ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', remote, `+refs/heads/${branch}:${tmp}`], {
    env: NO_PROMPT,
  });
  const fetched = (await resolveRef(repo, tmp))!;
  await git(repo, ['update-ref', '-d', tmp]);
  return fetched;
}

/**
 * Pushes `sha` to `remote`'s `branch`, leased on what the remote held (`expected`, null: no
 * branch), so a push that happened meanwhile is never overwritten.
 * @returns null when pushed, else git's output
 */
export async function pushLeased(
  repo: string,
  remote: string,
  sha: string,
  branch: string,
  expected: string | null,
): Promise<string | null> {
  const r = await execa(
    'git',
    [
      'push',
      '--porcelain',
      `--force-with-lease=refs/heads/${branch}:${expected ?? ''}`,
      remote,
      `${sha}:refs/heads/${branch}`,
    ],
    { cwd: repo, reject: false, stdin: 'ignore', all: true, env: NO_PROMPT },
  );
  return r.exitCode === 0 ? null : (r.all ?? '').trim();
}
