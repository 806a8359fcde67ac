/**
 * The mission's notifications (`notify:` in its mission file, README "The mission file"): each
 * event a target asks for (blocked, failed, completed, landed, budget) is sent once, by the
 * `notify` activity, with the idempotency key `<workflow id>/<event>/<n>` (n counts that event's
 * notifications in the mission, carried across continue-as-new), the same on every retry of the
 * activity. A mission without a target for an event schedules nothing for it. A notification
 * that fails for an hour is given up (the mission goes on: telling people is not its work).
 */
import { CancellationScope, condition, workflowInfo } from '@temporalio/workflow';
import type { MissionSpec, NotifyEvent } from '../../mission/types';
import { notifier } from '../activities';
import type { Mission } from './state';
import type { CommandNames } from './types';

export class MissionNotifier {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly m: Mission,
    private readonly spec: MissionSpec,
    private readonly names: CommandNames,
  ) {}

  /**
   * Sends `event` to the targets that want it, in the background (see {@link settled}). The
   * activity is scheduled in this very activation, so the order of commands is the caller's.
   */
  send(event: NotifyEvent, reason: string | null): Promise<void> {
    const notify = this.spec.notify;
    const targets = notify?.targets.filter((t) => t.on.includes(event)) ?? [];
    if (!notify || targets.length === 0) return Promise.resolve();
    const n = (this.m.notified[event] ?? 0) + 1;
    this.m.notified[event] = n;
    const key = `${workflowInfo().workflowId}/${event}/${n}`;
    const webhookNames = targets.flatMap((t) => (t.webhook && typeof t.webhook !== 'string' ? [t.webhook.env] : []));
    const sent = notifier(this.m.state.hostQueue ?? workflowInfo().taskQueue)
      .executeWithOptions({ summary: `notify ${event} (${targets.length} target${targets.length === 1 ? '' : 's'})` }, [
        {
          missionId: this.spec.id,
          event,
          reason,
          key,
          webUi: notify.webUi,
          report: notify.report,
          targets,
          env: this.names.env,
          redact: [...new Set([...this.names.redact, ...webhookNames])],
        },
      ])
      .catch(() => undefined);
    this.pending.add(sent);
    void sent.finally(() => this.pending.delete(sent));
    return sent;
  }

  /**
   * At the mission's end: `completed` or `failed`, then `landed` when `land:` landed it. Waits for
   * every notification still being sent.
   */
  async ended(
    progress: { phase: string; reason: string | null },
    landing?: { status: string; message: string },
  ): Promise<void> {
    if (progress.phase === 'completed' || progress.phase === 'failed') void this.send(progress.phase, progress.reason);
    if (progress.phase === 'completed' && landing?.status === 'landed') void this.send('landed', landing.message);
    await this.settled();
  }

  /** Resolves once every notification sent so far is done (before the run ends or continues as new). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Sends `budget` once the budget is passed (the Mission's rule sets `budgetTripped`), unless sent already. */
  async watchBudget(tripped: () => boolean, reason: () => string | null): Promise<void> {
    const wanted = this.spec.notify?.targets.some((t) => t.on.includes('budget'));
    if (!wanted || (this.m.notified.budget ?? 0) > 0) return;
    // Not cancelled with the workflow (an unhandled rejection there would fail its task): a
    // cancelled mission simply never trips it.
    await CancellationScope.nonCancellable(() => condition(tripped));
    await this.send('budget', reason());
  }
}
