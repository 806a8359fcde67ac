/**
 * The mission workflow's message handlers. Each one delegates its rule to {@link Mission} and
 * performs only the effect that needs Temporal (signalling a task, cancelling a child), as in
 * samples-typescript's `message-passing/safe-message-handlers`. Validators run before an update
 * enters history, so a rejected request leaves no trace.
 */
import { getExternalWorkflowHandle, setHandler } from '@temporalio/workflow';
import { endingRejection, skipRejection, steerRejection } from '../mission/control';
import { names } from '../mission/types';
import {
  cancelSignal,
  holdSignal,
  pauseSignal,
  progressQuery,
  releaseSignal,
  resumeSignal,
  retryUpdate,
  skipUpdate,
  steerTaskSignal,
  steerUpdate,
  taskUpdateSignal,
} from './messages';
import type { Mission } from './mission-state';

/** What the handlers ask the workflow to do. */
export interface MissionEffects {
  /** Cancels the task's child workflow (its agent is stopped, its work kept). */
  cancelTask(id: string): void;
  /** Cancels the setup and every running task: the mission is being cancelled. */
  cancelAll(): void;
  now(): string;
}

/** A validator's refusal: the update is rejected with `rejection` (what the user reads). */
function refuse(rejection: string | null): void {
  if (rejection) throw new Error(rejection);
}

/** Installs every signal, query and update handler of `missionWorkflow`. */
export function installMissionHandlers(m: Mission, fx: MissionEffects): void {
  const ending = (verb: string) => endingRejection(m.spec.id, m.halt.cancel !== null, m.state.endedAt, verb);
  const task = (id: string) => getExternalWorkflowHandle(names.taskWorkflowId(m.spec.id, id));
  /** A task that has just ended cannot take the signal, and that is not an error. */
  const tell = async (ids: string[], signal: typeof holdSignal | typeof releaseSignal): Promise<void> => {
    await Promise.all(
      ids.map((id) =>
        task(id)
          .signal(signal)
          .catch(() => undefined),
      ),
    );
  };

  setHandler(progressQuery, () => m.progress());

  setHandler(pauseSignal, async (arg) => {
    await tell(m.pause(arg?.reason, !!arg?.now), holdSignal);
  });
  setHandler(resumeSignal, async () => {
    await tell(m.resume(), releaseSignal);
  });
  setHandler(cancelSignal, (arg) => {
    // `flotilla cancel` sends this signal with its reason, then Temporal's cancellation request,
    // which cancels (mission.ts): the reason is the one status shows, whichever arrives first.
    m.halt.explain(arg?.reason ?? 'cancelled by user');
  });
  setHandler(taskUpdateSignal, ({ taskId, usage, note, held, host }) => m.taskUpdate(taskId, usage, note, held, host));

  setHandler(
    steerUpdate,
    async ({ taskId, message, queue }) => {
      // Not swallowed: a task that ended just now cannot take the message, and the user must know.
      await task(taskId).signal(steerTaskSignal, { message, queue: !!queue });
      return { taskId, delivery: queue || m.held.has(taskId) ? ('queued' as const) : ('interrupt' as const) };
    },
    {
      validator: ({ taskId, message }) =>
        refuse(ending('steer') ?? steerRejection(m.spec.id, m.state, taskId, message, m)),
    },
  );
  setHandler(retryUpdate, ({ taskId }) => ({ taskId, reopened: m.retry(taskId) }), {
    validator: ({ taskId }) => refuse(m.retryRejection(taskId)),
  });
  setHandler(
    skipUpdate,
    ({ taskId }) => {
      const { was, skipped, stopTask } = m.skip(taskId, fx.now());
      // The child is cancelled: its agent is killed and its work kept; its end records the skip.
      if (stopTask) fx.cancelTask(taskId);
      return { taskId, was, skipped };
    },
    { validator: ({ taskId }) => refuse(ending('skip') ?? skipRejection(m.spec.id, m.state, taskId, m)) },
  );
}
