/**
 * What an agent attempt needs from git (the agent library, src/agents, runs no git of its own
 * here): what the worktree holds, for a continuation prompt, and whether and how a lost task
 * worktree is rebuilt from the task branch plus its latest checkpoint (worktree.ts). These move to
 * the git library with the rest of the git side.
 */
import { existsSync } from 'node:fs';
import type { RunAgentInput } from '../agents/types';
import { git } from '../git/git';
import { activityContext } from './checks';
import { ensureTaskWorktree, PrepareWorktreeResult, taskWorktreeNeedsRebuild, taskWorktreePath } from '../git/worktree';

/** Setup commands in a rebuilt worktree get this long each when the caller gives no limit, ms. */
const DEFAULT_SETUP_TIMEOUT_MS = 20 * 60_000;

/**
 * What the worktree holds against the task's base (`git diff --stat base...HEAD` and
 * `git status --short`, at most 40 lines), for the continuation prompt. Never throws.
 */
export async function worktreeSummary(worktree: string, baseSha: string): Promise<string> {
  try {
    const committed = (await git(worktree, ['diff', '--stat', `${baseSha}...HEAD`])).trim();
    const pending = (await git(worktree, ['status', '--short'])).trim();
    return [
      committed
        ? `Committed on the task branch since it started:\n${committed}`
        : 'Nothing is committed on the task branch yet.',
      pending
        ? `Uncommitted changes in the worktree:\n${pending.split('\n').slice(0, 40).join('\n')}`
        : 'No uncommitted changes.',
    ].join('\n');
  } catch {
    return '(the worktree state could not be read)';
  }
}

/**
 * What a conflict worktree holds for a resolver's continuation prompt: `git status --short` (at
 * most 40 lines; `UU` = still unmerged, `M` = staged). Never throws.
 */
export async function mergeSummary(worktree: string): Promise<string> {
  try {
    const status = (await git(worktree, ['status', '--short', '--untracked-files=all'])).trim();
    return status
      ? `The merge in progress, as \`git status --short\` shows it now:\n${status.split('\n').slice(0, 40).join('\n')}`
      : 'git status shows no changes: the merge is no longer in progress.';
  } catch {
    return '(the worktree state could not be read)';
  }
}

/** What the agent's worktree holds: {@link mergeSummary} for a resolver, else {@link worktreeSummary}. Never throws. */
export function stateSummary(input: Pick<RunAgentInput, 'role' | 'worktree' | 'baseSha'>): Promise<string> {
  return input.role === 'resolver' ? mergeSummary(input.worktree) : worktreeSummary(input.worktree, input.baseSha);
}

/**
 * True when this attempt can rebuild its worktree: a rebuild needs the repository and the run, and
 * makes the worktree at its usual path. A resolver's conflict worktree is never rebuilt here: only
 * `prepareConflict` can set the merge up.
 */
export function canRebuild(home: string, input: RunAgentInput): boolean {
  const { repo, runId, missionId, taskId, worktree, role } = input;
  if (role === 'resolver') return false;
  return !!repo && !!runId && taskWorktreePath(home, missionId, runId, taskId) === worktree;
}

/** The worktree is gone, no longer a worktree, or (when it can be rebuilt) its rebuild was interrupted. */
export function needsRebuild(home: string, input: RunAgentInput): boolean {
  const { runId, missionId, taskId, worktree } = input;
  return canRebuild(home, input) && runId
    ? taskWorktreeNeedsRebuild(home, { missionId, runId, taskId })
    : !existsSync(worktree);
}

/**
 * Rebuilds the task's worktree from the task branch plus its latest checkpoint, running the
 * mission's setup again; `onProgress` is called while setup commands run.
 * @throws Error when the input names no repository or run (see {@link canRebuild}); whatever
 *   `ensureTaskWorktree` throws (`SetupFailed`, …)
 */
export function rebuildWorktree(
  home: string,
  input: RunAgentInput,
  onProgress: () => void,
): Promise<PrepareWorktreeResult> {
  if (!input.repo || !input.runId) throw new Error('a worktree is rebuilt only with the repository and the run');
  return ensureTaskWorktree(
    home,
    {
      missionId: input.missionId,
      runId: input.runId,
      taskId: input.taskId,
      repo: input.repo,
      baseSha: input.baseSha,
      setup: input.setup ?? [],
      copy: input.exclude ?? [],
      setupTimeoutMs: input.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS,
      env: input.setupEnv,
      redact: input.redact,
      namespace: input.namespace,
    },
    // The activity's cancellation stops a setup command of the rebuild.
    { onProgress, signal: activityContext()?.cancellationSignal },
  );
}
