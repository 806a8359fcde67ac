/**
 * Removing a merged task's worktree, only when nothing in it can be lost. The task branch and its
 * checkpoint refs hold the work and are never touched; the worktree is only a checkout of them,
 * plus what setup made (ignored files such as node_modules, and files its setup record names, such
 * as a lock file) and the mission's `copy` files.
 *
 * What stays next to the worktree is not removed: `<worktree>.verify.log` (the task verify's
 * output) and the task's state folder `runs/<mission>/<task>/worktree-<runKey>/` (setup.log and
 * the `setup.done` marker, which `ensureTaskWorktree` discards itself when it re-creates the
 * worktree) are logs and evidence, not cache, and sit beside the transcripts, which must stay.
 */
import execa from 'execa';
import { existsSync, lstatSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { heartbeating } from './checks';
import { ActivityConfig, paths } from './config';
import { git, gitRun, withRepoLock } from './git';
import { clonePath } from './origin';
import { groupAlive } from './process';
import { clearSetupLeftovers, unchangedSinceSetup, withStagedWorktree } from './setup-record';
import type { RemoveTaskWorktreeInput, RemoveTaskWorktreeResult } from './queue-types';
import { taskWorktreePath } from './worktree-layout';

/** How many paths a `kept` reason names before "and N more". */
const SHOWN_PATHS = 5;

/** What a git operation left in progress in a worktree (its own git directory). */
const IN_PROGRESS = ['MERGE_HEAD', 'rebase-merge', 'rebase-apply', 'CHERRY_PICK_HEAD', 'REVERT_HEAD', 'BISECT_LOG'];

/** git in `dir` with paths taken literally (no pathspec magic): exit code and stdout, never throws. */
async function gitLiteral(dir: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await execa('git', args, {
    cwd: dir,
    reject: false,
    stdin: 'ignore',
    stripFinalNewline: false,
    env: { GIT_LITERAL_PATHSPECS: '1' },
  });
  return { ok: r.exitCode === 0, out: r.stdout ?? '' };
}

const nulList = (out: string): string[] => out.split('\0').filter(Boolean);

function listed(paths: string[]): string {
  const more = paths.length - SHOWN_PATHS;
  return paths.slice(0, SHOWN_PATHS).join(', ') + (more > 0 ? ` and ${more} more` : '');
}

function sameFile(a: string, b: string): boolean {
  try {
    if (!lstatSync(a).isFile() || !lstatSync(b).isFile()) return false;
    return readFileSync(a).equals(readFileSync(b));
  } catch {
    return false;
  }
}

/** The agent process group recorded for the task (agent-launch.ts), when it still runs. */
function liveAgent(home: string, missionId: string, taskId: string): number | undefined {
  try {
    const pgid = Number(readFileSync(path.join(paths.runDir(home, missionId, taskId), 'agent.pid'), 'utf8').trim());
    return Number.isInteger(pgid) && pgid > 1 && groupAlive(pgid) ? pgid : undefined;
  } catch {
    return undefined;
  }
}

/** Paths in a worktree that removing it loses nothing of, for the caller to clear first. */
interface Removable {
  /** `copy` files identical to the repository's (untracked). */
  copies: string[];
  /** What setup made and nobody changed since (setup-record.ts): setup makes it again. */
  setup: string[];
}

/**
 * Why the task worktree `wt` must be kept, or null when removing it loses nothing: no agent runs
 * in it, no merge or rebase is in progress, HEAD is on a branch or on a commit a branch holds, no
 * tracked file is modified (staged or not) and no untracked file exists other than ignored ones,
 * `copy` files identical to the repository's and what setup made that nobody changed since.
 * Fills `removable` with the latter two (worktree-relative paths) for the caller to clear before
 * `git worktree remove`, which refuses untracked and modified files.
 */
async function whyKeep(
  home: string,
  input: RemoveTaskWorktreeInput,
  wt: string,
  removable: Removable,
): Promise<string | null> {
  const identicalCopies = removable.copies;
  const pgid = liveAgent(home, input.missionId, input.taskId);
  if (pgid) return `an agent still runs in it (process group ${pgid})`;
  const gitDir = path.resolve(wt, (await git(wt, ['rev-parse', '--git-dir'])).trim());
  const busy = IN_PROGRESS.find((f) => existsSync(path.join(gitDir, f)));
  if (busy) return `a git operation is in progress in it (${busy})`;
  const onBranch = await gitRun(wt, ['symbolic-ref', '--quiet', 'HEAD']);
  if (onBranch.exitCode !== 0) {
    // Detached: its commits live only in this worktree's HEAD (and reflog) unless a branch holds them.
    const holders = await gitLiteral(wt, ['for-each-ref', '--count=1', '--contains', 'HEAD', 'refs/heads']);
    if (!holders.ok || !holders.out.trim()) {
      const head = (await git(wt, ['rev-parse', '--short=12', 'HEAD'])).trim();
      return `HEAD is detached at ${head}, a commit no branch holds`;
    }
  }

  // The mission's `copy` files (paths inside the repository only, as provisioning copies them)
  // that exist in the worktree untracked: either identical to the repository's, or changed.
  const copies = new Map<string, string>(); // worktree-relative path -> the repository's file
  for (const rel of input.copy) {
    const from = path.resolve(input.repo, rel);
    const to = path.resolve(wt, rel);
    if (!from.startsWith(input.repo + path.sep) || !to.startsWith(wt + path.sep)) continue;
    // Provisioning copies files only: a directory there is the task's own (`git status` judges it).
    if (!isFileOrLink(to)) continue;
    copies.set(path.relative(wt, to).split(path.sep).join('/'), from);
  }
  const tracked = copies.size
    ? new Set(nulList((await gitLiteral(wt, ['ls-files', '-z', '--', ...copies.keys()])).out))
    : new Set<string>();
  const changedCopies: string[] = [];
  for (const [rel, from] of copies) {
    if (tracked.has(rel)) continue; // a tracked file: `git status` judges it
    if (sameFile(path.join(wt, rel), from)) identicalCopies.push(rel);
    else changedCopies.push(rel);
  }

  // Ignored files (what setup made) are not listed: `git worktree remove` deletes them. What
  // setup made that is not ignored (a lock file) is listed, but setup makes it again.
  const fromSetup = await withStagedWorktree(wt, { exclude: input.copy }, (env) => unchangedSinceSetup(wt, env));
  removable.setup.push(...fromSetup.map((u) => u.path));
  const status = await gitLiteral(wt, ['status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames']);
  if (!status.ok) return 'git status failed in it';
  const skip = new Set([...identicalCopies, ...removable.setup]);
  const dirty = nulList(status.out)
    .map((e) => e.slice(3))
    .filter((p) => !skip.has(p) && !changedCopies.includes(p));
  const reasons: string[] = [];
  if (dirty.length) reasons.push(`modified or untracked files: ${listed(dirty)}`);
  if (changedCopies.length) reasons.push(`copy files that differ from the repository's: ${listed(changedCopies)}`);
  return reasons.length ? reasons.join('; ') : null;
}

function isFileOrLink(p: string): boolean {
  try {
    return !lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Removes the worktree of task `input.taskId` (at `taskWorktreePath`, worktree-layout.ts) when it
 * is clean (see {@link whyKeep}), under the repository lock: identical `copy` files and what setup
 * made that nobody changed are cleared first, then `git worktree remove` without `--force` (which deletes ignored files with it and
 * refuses a dirty, locked or submodule-holding worktree on its own as well).
 * Idempotent: a worktree that is already gone is `{removed: true}` (it is not there, which is what
 * the caller wants; stale administrative files are pruned). A directory at that path that is not
 * a worktree is kept, never deleted: it may hold someone's work.
 * Never deletes the task branch, its checkpoint refs, transcripts or logs.
 * @returns `{removed: true, kept: null}`, or `{removed: false, kept: '<reason with the first paths>'}`
 * @throws GitError when git fails
 */
export async function removeTaskWorktree(
  home: string,
  input: RemoveTaskWorktreeInput,
): Promise<RemoveTaskWorktreeResult> {
  const wt = taskWorktreePath(home, input.missionId, input.runId, input.taskId);
  return withRepoLock(input.repo, async () => {
    if (!existsSync(wt)) {
      await git(input.repo, ['worktree', 'prune']);
      return { removed: true, kept: null };
    }
    const top = (await git(wt, ['rev-parse', '--show-toplevel']).catch(() => '')).trim();
    if (!top || path.resolve(top) !== path.resolve(wt) || !existsSync(path.join(wt, '.git')))
      return { removed: false, kept: `${wt} is not a git worktree; left for a person to look at` };
    const removable: Removable = { copies: [], setup: [] };
    const why = await whyKeep(home, input, wt, removable);
    if (why) return { removed: false, kept: why };
    for (const rel of removable.copies) rmSync(path.join(wt, rel), { force: true });
    await clearSetupLeftovers(wt, removable.setup);
    const r = await gitRun(input.repo, ['worktree', 'remove', wt]);
    if (r.exitCode !== 0)
      return { removed: false, kept: `git worktree remove refused: ${r.output.trim().slice(-500)}` };
    return { removed: true, kept: null };
  });
}

export function createCleanupActivities(config: ActivityConfig) {
  return {
    /**
     * Removes a merged task's worktree when nothing in it can be lost (see removeTaskWorktree):
     * `{removed: true, kept: null}` (also when it was already gone), or `{removed: false, kept}`
     * with the reason and the first few paths. Heartbeats every 5 s (also while it waits for the
     * repository lock; deleting a large node_modules may take a while). With `origin`, in this
     * host's clone of it (the task's host, for a mission whose tasks run on any host).
     * @throws GitError when git fails
     */
    async removeTaskWorktree(input: RemoveTaskWorktreeInput): Promise<RemoveTaskWorktreeResult> {
      if (input.origin) {
        const repo = clonePath(config.home, input.origin);
        if (!existsSync(path.join(repo, '.git'))) return { removed: true, kept: null };
        input = { ...input, repo };
      }
      return heartbeating(() => removeTaskWorktree(config.home, input));
    },
  };
}
