/**
 * Merges finished task branches into the integration worktree, one at a time, `--no-ff` so every
 * task stays one visible merge. Idempotent: a branch already contained in HEAD is reported as
 * merged (a worker that died after the merge commit finishes exactly once); a merge a dead worker
 * left half-done is aborted and redone.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { heartbeating } from './checks';
import { gitAt, gitRun, gitSucceeds, resolveRef, withRepoLock } from './git';

export interface MergeInput {
  /** The integration worktree. */
  worktree: string;
  repo: string;
  branch: string;
  taskId: string;
  title: string;
}
export type MergeResult =
  { status: 'merged'; sha: string; alreadyMerged: boolean } | { status: 'conflict'; files: string[]; message: string };

export interface ResetInput {
  worktree: string;
  repo: string;
  /** The SHA the integration branch goes back to. */
  sha: string;
}

async function gitDir(worktree: string): Promise<string> {
  const git = await gitAt(worktree);
  const dir = (await git.revparse(['--git-dir'])).trim();
  return path.resolve(worktree, dir);
}

export function createMergeActivities() {
  return {
    async mergeBranch(input: MergeInput): Promise<MergeResult> {
      return heartbeating(() =>
        withRepoLock(input.repo, async () => {
          const git = await gitAt(input.worktree);
          if (existsSync(path.join(await gitDir(input.worktree), 'MERGE_HEAD'))) {
            await git.raw(['merge', '--abort']);
          }
          const tip = await resolveRef(git, `refs/heads/${input.branch}`);
          if (!tip) throw new Error(`task branch ${input.branch} does not exist`);
          const contained = await gitSucceeds(input.worktree, ['merge-base', '--is-ancestor', tip, 'HEAD']);
          if (contained) return { status: 'merged', sha: (await git.revparse(['HEAD'])).trim(), alreadyMerged: true };
          const merge = await gitRun(input.worktree, [
            'merge',
            '--no-ff',
            '--no-edit',
            '-m',
            `flotilla: merge ${input.taskId}: ${input.title}`,
            input.branch,
          ]);
          if (merge.exitCode !== 0) {
            const files = (await git.raw(['diff', '--name-only', '--diff-filter=U']).catch(() => ''))
              .split('\n')
              .map((f) => f.trim())
              .filter(Boolean);
            if (existsSync(path.join(await gitDir(input.worktree), 'MERGE_HEAD'))) await git.raw(['merge', '--abort']);
            if (files.length === 0)
              throw new Error(`git merge ${input.branch} failed: ${merge.output.trim().slice(-1000)}`);
            return { status: 'conflict', files, message: `merge conflict in ${files.join(', ')}` };
          }
          return { status: 'merged', sha: (await git.revparse(['HEAD'])).trim(), alreadyMerged: false };
        }),
      );
    },

    /** Moves the integration branch back to `sha` (policy `onVerifyFailure: revert`). */
    async resetIntegration(input: ResetInput): Promise<void> {
      await withRepoLock(input.repo, async () => {
        const git = await gitAt(input.worktree);
        await git.raw(['reset', '--hard', input.sha]);
      });
    },
  };
}
