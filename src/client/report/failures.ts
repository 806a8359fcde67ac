/**
 * The report's failures that the mission's progress tells (the histories tell the others, see
 * task-timeline.ts and mission-timeline.ts): the mission's own end, each task's error, and the
 * conflicts the merge queue met.
 */
import type { MissionProgress } from '../../mission/progress';
import type { ReportFailure } from './model';
import { firstLine } from './payloads';

/** The reason the progress gives for the mission's phase (failed, cancelled, blocked, ...); null when it gives none or the mission completed or runs. */
export function missionFailure(progress: MissionProgress, missionEnd: number | null): ReportFailure | null {
  if (!progress.reason || progress.phase === 'completed' || progress.phase === 'running') return null;
  return {
    kind: 'mission',
    taskId: null,
    at: missionEnd,
    message: `mission ${progress.phase}: ${progress.reason}`,
    detail: null,
  };
}

/** The error of each task that failed, met a conflict, was skipped or cancelled, in the progress's order. */
export function taskFailures(progress: MissionProgress): ReportFailure[] {
  const out: ReportFailure[] = [];
  for (const t of progress.tasks)
    if (t.error && ['failed', 'conflict', 'skipped', 'cancelled'].includes(t.status))
      out.push({
        kind: 'task',
        taskId: t.id,
        at: t.endedAt ? Date.parse(t.endedAt) : null,
        message: `${t.id} ${t.status}: ${firstLine(t.error)}`,
        detail: t.error.includes('\n') ? t.error : null,
      });
  return out;
}

/**
 * The conflicts the merge queue met (latest state per task, from the progress), dated by the
 * merges that met them.
 * @param conflictAt when each task's merge first met a conflict, ms since the epoch (mission-timeline.ts)
 */
export function conflictFailures(progress: MissionProgress, conflictAt: Map<string, number>): ReportFailure[] {
  return (progress.mergeQueue?.conflicts ?? []).map((c) => {
    const withWhom = c.withTasks.length ? ` with ${c.withTasks.join(', ')}` : '';
    return {
      kind: 'conflict',
      taskId: c.taskId,
      at: conflictAt.get(c.taskId) ?? null,
      message: `${c.taskId}: merge conflict${withWhom} in ${c.files.join(', ')}: ${c.state}${c.attempts ? ` (resolver runs: ${c.attempts})` : ''}`,
      detail: c.note,
    };
  });
}
