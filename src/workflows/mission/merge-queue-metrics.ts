/**
 * The merge queue's length as a workflow metric, through the SDK's replay-safe `metricMeter`
 * (nothing is emitted while a history replays). A worker started with `--metrics` exports it with
 * the SDK's metrics, tagged with the workflow's namespace, task queue and type; elsewhere the
 * SDK's meter has no exporter and the call costs next to nothing.
 */
import { metricMeter } from '@temporalio/workflow';
import type { MissionState } from '../../mission/progress';

/**
 * Sets `flotilla_merge_queue_length{mission_id}`: the tasks that succeeded and wait to be merged,
 * the batch being merged and verified included. Never throws: a metric must not fail a workflow task.
 */
export function reportMergeQueue(missionId: string, state: Pick<MissionState, 'queue' | 'batch'>): void {
  try {
    metricMeter
      .createGauge(
        'flotilla_merge_queue_length',
        'int',
        '',
        'Tasks of a mission waiting in its merge queue, the batch being merged and verified included',
      )
      .set((state.queue?.length ?? 0) + (state.batch?.taskIds.length ?? 0), { mission_id: missionId });
  } catch {
    // Metrics only.
  }
}
