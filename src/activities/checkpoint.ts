/**
 * Commits what an agent left in its worktree on the task branch: `flotilla(<taskId>): <title>`.
 * Idempotent: with nothing to commit it only reports HEAD, so a retry after a crash that already
 * committed does nothing twice.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Diffstat } from '../mission/progress';
import { heartbeating } from './checks';
import { diffstat, gitAt } from './git';

export interface CheckpointInput {
  worktree: string;
  taskId: string;
  title: string;
  /** The task branch; the commit must land on it, or the merge would silently miss the work. */
  branch: string;
  /** The SHA the task branch started from, for the diffstat. */
  baseSha: string;
  /** Files the mission copied in (`copy:`, e.g. `.env`): never committed. */
  exclude: string[];
  /** Appended to the subject, e.g. `[incomplete]` for work kept after a failure. */
  note?: string;
}
export interface CheckpointResult {
  headSha: string;
  /** True when this call made a commit. */
  committed: boolean;
  /** Changes of the task branch against its base. */
  diffstat: Diffstat;
}

const IN_PROGRESS = ['MERGE_HEAD', 'rebase-merge', 'rebase-apply', 'CHERRY_PICK_HEAD', 'REVERT_HEAD'];

export function createCheckpointActivities() {
  return {
    /**
     * @throws non-retryable `WorktreeState` when HEAD is not on the task branch or a merge or
     *   rebase is in progress (committing then would lose the work or commit conflict markers)
     */
    async checkpoint(input: CheckpointInput): Promise<CheckpointResult> {
      return heartbeating(async () => {
        const git = await gitAt(input.worktree);
        const head = (await git.raw(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
        const gitDir = path.resolve(input.worktree, (await git.revparse(['--git-dir'])).trim());
        const busy = IN_PROGRESS.find((f) => existsSync(path.join(gitDir, f)));
        if (head !== input.branch || busy) {
          throw ApplicationFailure.nonRetryable(
            busy
              ? `the agent left a ${busy.replace(/_HEAD|-merge|-apply/, '').toLowerCase()} in progress in ${input.worktree}; finish or abort it there, then retry the task`
              : `the agent left HEAD on ${head || 'a detached commit'} instead of ${input.branch} in ${input.worktree}; check out the task branch there (its work may be on ${head || 'HEAD'}), then retry the task`,
            'WorktreeState',
          );
        }
        const excludes = input.exclude.map((p) => `:(exclude)${p}`);
        await git.raw(['add', '--all', '--', '.', ...excludes]);
        const staged = (await git.raw(['diff', '--cached', '--name-only'])).trim().length > 0;
        let committed = false;
        if (staged) {
          const subject = `flotilla(${input.taskId}): ${input.title}${input.note ? ` ${input.note}` : ''}`;
          await git.raw(['commit', '--no-verify', '--quiet', '-m', subject]);
          committed = true;
        }
        const headSha = (await git.revparse(['HEAD'])).trim();
        return { headSha, committed, diffstat: await diffstat(git, input.baseSha, headSha) };
      });
    },
  };
}
