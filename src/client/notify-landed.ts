/**
 * `landed` for `flotilla land`: the landing happens in the CLI (no workflow runs it), so the CLI
 * sends the mission's `notify:` targets for `landed` itself, once the landing succeeded, from
 * the CLI's own environment (a webhook `{ env: NAME }` is read there). Key:
 * `mission-<id>/landed/<landed sha>`, the same for the same landing. Nothing is sent when the
 * mission was already on its base (nothing new happened). A notification that fails is a
 * warning: the landing stands. (With `land:` in the mission file the mission workflow sends
 * `landed` itself, after `completed`.)
 */
import { notification, sendNotification, targetName } from '../agents/notify';
import { names, type MissionSpec } from '../mission/types';
import type { LandResult } from '../git/land-types';

/**
 * Sends `landed` for mission `spec` to its targets that want it.
 * @returns a warning per target that failed (empty: all sent, or none wanted it)
 */
export async function notifyLanded(spec: MissionSpec, r: Extract<LandResult, { status: 'landed' }>): Promise<string[]> {
  const targets = spec.notify?.targets.filter((t) => t.on.includes('landed')) ?? [];
  if (r.alreadyLanded || targets.length === 0) return [];
  const where = r.mode === 'ff' ? r.base : `${r.remote}/${r.base}`;
  const n = notification({
    mission: spec.id,
    event: 'landed',
    reason: `landed on ${where} at ${r.landed.slice(0, 12)}`,
    key: `${names.missionWorkflowId(spec.id)}/landed/${r.landed}`,
    webUi: spec.notify!.webUi,
    report: spec.notify!.report,
  });
  const warnings: string[] = [];
  for (const target of targets) {
    try {
      await sendNotification(target, n, { names: spec.env ?? [] });
    } catch (err) {
      warnings.push(`warning: the landed notification to ${targetName(target)} failed: ${(err as Error).message}`);
    }
  }
  return warnings;
}
