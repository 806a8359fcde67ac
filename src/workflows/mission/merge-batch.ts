/**
 * The merge queue's merges: task branches merged one onto the other on the candidate ref in one
 * activity (`queueMergeBatch`), and what the mission state learns from it.
 */
import type { QueueMergeBatchResult } from '../../activities';
import { line, short } from '../summaries';
import type { MergeQueueContext } from './merge-conflicts';

/**
 * Merges `ids` one onto the other, the first onto `onto`, in one activity (`queueMergeBatch`),
 * up to the first that conflicts; what merged is on the candidate ref.
 */
export async function mergeSome(q: MergeQueueContext, ids: string[], onto: string): Promise<QueueMergeBatchResult> {
  const { m, spec } = q;
  const tasks = ids.map((id) => ({ taskId: id, branch: m.task(id).branch, title: m.task(id).title }));
  m.merging = ids[0];
  let r: QueueMergeBatchResult;
  try {
    const summary = line(
      `merge ${ids.length} onto ${short(onto)} (batch ${m.state.batch?.index ?? '?'}): ${ids.join(', ')}`,
    );
    r = await q.acts.queueMergeBatch.executeWithOptions({ summary }, [
      {
        repo: spec.repo,
        onto,
        tasks,
        ref: q.candidateRef,
        expected: m.state.candidateTip ?? null,
        date: q.hooks.now(),
        // No mission verify: nothing to test, so the integration branch moves in the same activity.
        ...(spec.verify.length === 0
          ? { publish: { ref: `refs/heads/${m.state.integrationBranch}`, expected: m.state.integrationSha } }
          : {}),
      },
    ]);
  } finally {
    m.merging = null;
  }
  if (r.published) m.state.integrationSha = r.published;
  for (const x of r.merged) {
    m.state.candidateTip = x.sha;
    const t = m.task(x.taskId);
    // What the branch held when the queue merged it (a person may have committed a fix there).
    if (x.tip) t.headSha = x.tip;
    // A conflict a person fixed on the task branch, then `resume`d.
    const fixed = m.state.conflicts!.find((c) => c.taskId === x.taskId && c.state === 'blocked');
    if (fixed) {
      fixed.state = 'resolved';
      fixed.note = 'resolved by hand on the task branch, then resumed';
    }
  }
  return r;
}
