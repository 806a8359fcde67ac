/**
 * The `notify` activity: one event of a mission (`notify:` in its mission file) sent to each of
 * its targets (src/agents/notify.ts). Retried by Temporal until every target took it; a target
 * that already did is recorded in the heartbeat details, so a retry (after a failure of another
 * target, or a worker killed mid-way) does not send to it again. The key is the workflow's, the
 * same on every attempt: a POST that reached its receiver before the worker died is sent again
 * with the same `Idempotency-Key`.
 */

import { notification, sendNotification } from '../agents/notify';
import type { NotifyEvent, NotifyTarget } from '../mission/types';
import { activityContext, heartbeating } from './checks';

export interface NotifyInput {
  missionId: string;
  event: NotifyEvent;
  reason: string | null;
  /** `<workflow id>/<event>/<n>`: the same on every attempt of this activity. */
  key: string;
  webUi: string | null;
  report: string | null;
  /** The mission's targets for this event. */
  targets: NotifyTarget[];
  /** The mission's `env:` names: what a command notifier gets besides the baseline. */
  env?: string[];
  /** Secret names (the webhooks' variables, the mission's): the worker's redaction boundary learns them. */
  redact?: string[];
}

export function createNotifyActivities() {
  return {
    /**
     * Sends the event to every target not yet done (heartbeat details: `{ done: [index…] }`).
     * @throws Error naming the first target that failed (retryable); never a webhook's URL
     */
    async notify(input: NotifyInput): Promise<void> {
      const ctx = activityContext();
      const before = (ctx?.info.heartbeatDetails as { done?: number[] } | undefined)?.done ?? [];
      const done = new Set(before);
      const n = notification({
        mission: input.missionId,
        event: input.event,
        reason: input.reason,
        key: input.key,
        webUi: input.webUi,
        report: input.report,
      });
      await heartbeating(async (beat) => {
        for (const [i, target] of input.targets.entries()) {
          if (done.has(i)) continue;
          await sendNotification(target, n, { names: input.env, signal: ctx?.cancellationSignal });
          done.add(i);
          beat({ done: [...done] });
        }
      });
    },
  };
}
