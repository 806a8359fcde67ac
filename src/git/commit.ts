/**
 * The task's commit: what an agent left in its worktree, committed on the task branch as
 * `flotilla(<taskId>): <title>`. (A *checkpoint* is something else: a WIP snapshot under
 * `refs/flotilla/checkpoints/…`, see checkpoint.ts.)
 */
import { HostFailure } from './failure';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ErrorType } from '../mission/error-types';
import type { Diffstat } from '../mission/progress';
import { diffstat, excludePathspecs, git, gitSucceeds, resolveRef } from './git';
import { worktreeGitDir } from './git-dirs';
import { pushTracked } from './origin';
import { leaveOutSetupWork } from './setup-record';
import { removeStaleLocks } from './git-locks';

export interface CommitTaskInput {
  worktree: string;
  taskId: string;
  title: string;
  /** The task branch; the commit must land on it, or the merge would silently miss the work. */
  branch: string;
  /** The SHA the task branch started from, for the diffstat. */
  baseSha: string;
  /**
   * Files the mission copied in (`copy:`, e.g. `.env`): never committed. (What `setup` made is
   * left out too, from the worktree's setup record.)
   */
  exclude: string[];
}
export interface CommitTaskResult {
  /** The task branch's head after the call: the new commit, or the existing head. */
  headSha: string;
  /** True when this call made a commit. */
  committed: boolean;
  /** Changes of the task branch against its base. */
  diffstat: Diffstat;
}
/** The historical names of these shapes (the `checkpoint` activity's input and result). */
export type CheckpointInput = CommitTaskInput;
export type CheckpointResult = CommitTaskResult;

const IN_PROGRESS = ['MERGE_HEAD', 'rebase-merge', 'rebase-apply', 'CHERRY_PICK_HEAD', 'REVERT_HEAD'];

/**
 * Commits everything the agent left in the worktree (minus `exclude`, and minus what the mission's
 * `setup` made that the agent did not change since: see setup-record.ts) on the task branch.
 * Idempotent: with nothing to commit it only reports the branch head, so a retry after a crash
 * that already committed does nothing twice.
 * @throws non-retryable `WorktreeState` when HEAD is not on the task branch or a merge or rebase
 *   is in progress (committing then would lose the work or commit conflict markers);
 *   non-retryable `CommitMissing` when, after committing, the task branch does not hold the
 *   commit or changes are still staged (a hook moved the branch, a commit that failed quietly):
 *   a task must never be marked succeeded without its work; GitError when git fails
 */
export async function commitTask(input: CommitTaskInput): Promise<CommitTaskResult> {
  const { worktree, branch } = input;
  // HEAD's commit and the full name of the branch it is on (`HEAD` when detached), one process.
  const [before, headRef] = await headAndRef(worktree);
  const head = headRef.startsWith('refs/heads/') ? headRef.slice('refs/heads/'.length) : '';
  const gitDir = await worktreeGitDir(worktree);
  const busy = IN_PROGRESS.find((f) => existsSync(path.join(gitDir, f)));
  if (head !== branch || busy) {
    throw HostFailure.nonRetryable(
      busy
        ? `the agent left a ${busy.replace(/_HEAD|-merge|-apply/, '').toLowerCase()} in progress in ${worktree}; finish or abort it there, then retry the task`
        : `the agent left HEAD on ${head || 'a detached commit'} instead of ${branch} in ${worktree}; check out the task branch there (its work may be on ${head || 'HEAD'}), then retry the task`,
      ErrorType.WorktreeState,
    );
  }
  const excludes = await excludePathspecs(worktree, input.exclude);
  // A `git add` or commit of an earlier attempt, killed with its worker, left its locks (index,
  // HEAD, the branch's ref): no minimum age, the agent has ended and a live git there keeps them.
  await removeStaleLocks(worktree, gitDir, 0, { headRef });
  await git(worktree, ['add', '--all', '--', '.', ...excludes]);
  // What setup made (a lock file `npm install` wrote) is not the agent's work, unless the agent
  // changed it since: back to its state before setup in the index, the file itself untouched.
  await leaveOutSetupWork(worktree, {});
  const staged = !(await gitSucceeds(worktree, ['diff', '--cached', '--quiet']));
  let committed = false;
  if (staged) {
    const subject = `flotilla(${input.taskId}): ${input.title}`;
    await git(worktree, ['commit', '--no-verify', '--quiet', '-m', subject], { identity: true });
    committed = true;
  }
  const [headSha, tip] = await headAndTip(worktree, branch);
  const leftStaged = committed && !(await gitSucceeds(worktree, ['diff', '--cached', '--quiet']));
  if (tip !== headSha || (committed && tip === before) || leftStaged) {
    throw HostFailure.nonRetryable(
      `the task's commit is not on ${branch} in ${worktree} (branch at ${tip?.slice(0, 12) ?? 'nothing'}, HEAD at ${headSha.slice(0, 12)}${leftStaged ? ', changes still staged' : ''}); a git hook or another process moved the branch. The work is still in the worktree: commit it on ${branch} there, then retry the task`,
      ErrorType.CommitMissing,
    );
  }
  return { headSha, committed, diffstat: await diffstat(worktree, input.baseSha, headSha) };
}

/** `[HEAD's commit or undefined, HEAD's full ref name ('HEAD' detached, '' unreadable)]`: `git rev-parse HEAD --symbolic-full-name HEAD`. */
async function headAndRef(worktree: string): Promise<[string | undefined, string]> {
  const out = await git(worktree, ['rev-parse', 'HEAD', '--symbolic-full-name', 'HEAD']).catch(() => null);
  const [sha, ref] = (out ?? '').trim().split('\n');
  if (out !== null && sha && ref) return [sha, ref];
  // No commit on HEAD yet (an unborn branch): ask for the ref alone.
  return [undefined, (await git(worktree, ['symbolic-ref', '--quiet', 'HEAD']).catch(() => '')).trim()];
}

/** `[HEAD's commit, the branch's tip or undefined]` in one `git rev-parse` (two when the branch is gone). */
async function headAndTip(worktree: string, branch: string): Promise<[string, string | undefined]> {
  const out = await git(worktree, ['rev-parse', 'HEAD', `refs/heads/${branch}`]).catch(() => null);
  const [head, tip] = (out ?? '').trim().split('\n');
  if (out !== null && head && tip) return [head, tip];
  return [(await git(worktree, ['rev-parse', 'HEAD'])).trim(), await resolveRef(worktree, `refs/heads/${branch}`)];
}

/**
 * {@link commitTask}, then, in a clone of a shared origin, the task branch pushed there (before
 * the task reports its commit, so the mission's host can merge it and another host can take the
 * task over). Errors as {@link commitTask}'s, and GitError when the push fails.
 */
export async function commitAndPublish(input: CommitTaskInput): Promise<CommitTaskResult> {
  const r = await commitTask(input);
  await pushTracked(input.worktree, `refs/heads/${input.branch}`);
  return r;
}
