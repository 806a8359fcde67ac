/**
 * Pure rules of `flotilla retry`, shared by the mission workflow (its update validator and the
 * reopening of an ended mission) and the client (which checks before it reopens one). Imported by
 * workflow code: no Node APIs.
 */
import type { MissionProgress, MissionState } from './progress';
import type { MissionSpec } from './types';

/** Task statuses `retry` accepts. */
export const RETRYABLE = ['failed', 'skipped', 'cancelled'] as const;

/**
 * Why `retry taskId` makes no sense for this state, or null when it does.
 * @param running whether the task's workflow is in flight (a `failed` status may be stale for a moment)
 */
export function retryRejection(
  spec: MissionSpec,
  state: Pick<MissionState, 'tasks'>,
  taskId: string,
  running = false,
): string | null {
  const t = state.tasks.find((x) => x.id === taskId);
  if (!t) return `mission ${spec.id} has no task "${taskId}"; its tasks: ${state.tasks.map((x) => x.id).join(', ')}`;
  if (!(RETRYABLE as readonly string[]).includes(t.status) || running)
    return `task ${taskId} is ${t.status}; only a failed, skipped or cancelled task can be retried${t.status === 'conflict' ? ` (a conflict is retried by \`flotilla resume ${spec.id}\` once the branch merges cleanly)` : ''}`;
  const deps = spec.tasks.find((x) => x.id === taskId)?.dependsOn ?? [];
  const blocker = deps
    .map((d) => state.tasks.find((x) => x.id === d)!)
    .find((d) => !['merged', 'pending', 'running', 'succeeded'].includes(d.status));
  if (blocker) return `task ${taskId} depends on ${blocker.id}, which is ${blocker.status}: retry ${blocker.id} first`;
  return null;
}

/** Whether a task was skipped by Flotilla (a dependency, a stop), not by the user. */
export function skippedBySystem(t: { status: string; error: string | null }): boolean {
  return t.status === 'skipped' && (t.error ?? '').startsWith('skipped: ');
}

/**
 * The state of an ended mission rebuilt from its result (the progress it returned), to reopen it.
 * What only a running mission has (its integration worktree, its host queue) is found again by
 * the reopened run.
 */
export function stateFromResult(p: MissionProgress): MissionState {
  return {
    phase: p.phase,
    paused: false,
    reason: p.reason,
    blocked: false,
    repo: p.repo,
    baseBranch: p.baseBranch,
    baseSha: p.baseSha,
    integrationBranch: p.integrationBranch,
    integrationSha: p.integrationSha,
    integrationWorktree: null,
    hostQueue: null,
    currentWave: p.currentWave,
    waves: p.waves.map((w) => ({ ...w, taskIds: [...w.taskIds] })),
    tasks: p.tasks.map((t) => ({ ...t })),
    startedAt: p.startedAt,
    endedAt: p.endedAt,
    budgetUsd: p.budgetUsd,
  };
}
