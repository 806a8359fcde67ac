/**
 * Commits what an agent left in its worktree on the task branch: `flotilla(<taskId>): <title>`.
 * Idempotent: with nothing to commit it only reports HEAD, so a retry after a crash that already
 * committed does nothing twice.
 */
import type { Diffstat } from '../mission/progress';
import { diffstat, gitAt } from './git';

export interface CheckpointInput {
  worktree: string;
  taskId: string;
  title: string;
  /** The SHA the task branch started from, for the diffstat. */
  baseSha: string;
  /** Appended to the subject, e.g. `[incomplete: agent exited 1]` for work kept after a failure. */
  note?: string;
}
export interface CheckpointResult {
  headSha: string;
  /** True when this call made a commit. */
  committed: boolean;
  /** Changes of the task branch against its base. */
  diffstat: Diffstat;
}

export function createCheckpointActivities() {
  return {
    async checkpoint(input: CheckpointInput): Promise<CheckpointResult> {
      const git = await gitAt(input.worktree);
      // A merge or rebase the agent left half-done would make `commit -a` record conflict markers.
      const dirty = (await git.raw(['status', '--porcelain', '--untracked-files=all'])).trim().length > 0;
      let committed = false;
      if (dirty) {
        await git.raw(['add', '--all']);
        const subject = `flotilla(${input.taskId}): ${input.title}${input.note ? ` ${input.note}` : ''}`;
        await git.raw(['commit', '--no-verify', '--quiet', '-m', subject]);
        committed = true;
      }
      const headSha = (await git.revparse(['HEAD'])).trim();
      return { headSha, committed, diffstat: await diffstat(git, input.baseSha, headSha) };
    },
  };
}
