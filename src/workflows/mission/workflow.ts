/**
 * missionWorkflow: one mission, workflow id `mission-<missionId>`.
 *
 * Set up (claim the repository's host; record the base SHA once, so a resumed mission merges into
 * the same base; create the integration branch and its detached worktree), then the main loop
 * (main-loop.ts): each task starts as a `taskWorkflow` child as soon as its dependencies are
 * merged (at most `concurrency` at once, none while paused or blocked), and each task that
 * succeeds goes through the merge queue (merge-queue.ts). When Temporal suggests it, the loop
 * drains and the run continues as new at a quiet point, carrying its state.
 *
 * The rules (retry, skip, pause, budget, block, stop, cancel) live in `Mission` (state.ts), the
 * handlers in handlers.ts, the steps in steps.ts, the shapes in types.ts. See docs/architecture.md.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  workflowInfo,
} from '@temporalio/workflow';
import { ErrorType } from '../../mission/error-types';
import { installMissionHandlers } from './handlers';
import { Mission } from './state';
import { MissionSteps } from './steps';
import { mainLoop } from './main-loop';
import type { MissionInput, MissionResult } from './types';

/** The mission workflow (its function name is its workflow type: never rename it). */
export async function missionWorkflow(input: MissionInput): Promise<MissionResult> {
  // It started when its workflow did (not at its first workflow task, which may wait for a worker).
  const info = workflowInfo();
  const m = new Mission(input.spec, input.carried, info.firstExecutionRunId, info.startTime.toISOString());
  const steps = new MissionSteps(m, input.spec);
  // A reopened run is reopened before any handler runs: a retry racing the reopen sees its task pending.
  if (input.carried?.reopen) m.reopen(input.carried.reopen);
  installMissionHandlers(m, steps.effects);
  void steps.notifier.watchBudget(
    () => m.budgetTripped,
    () => m.state.reason,
  );
  // A cancellation request (`flotilla cancel`, the Web UI's Cancel) cancels like this: merges in
  // progress finish, agents stop after a checkpoint, and the run ends Canceled once they have.
  let cancelRequested = false;
  CancellationScope.current().cancelRequested.catch(() => {
    cancelRequested = true;
    if (m.halt.requestCancel('cancelled (workflow cancellation requested)')) steps.effects.cancelAll();
  });

  try {
    await CancellationScope.nonCancellable(async () => {
      if ((await mainLoop(m, steps)) === 'continue') {
        await condition(allHandlersFinished);
        await steps.notifier.settled();
        steps.flushAttributes();
        await continueAsNew<typeof missionWorkflow>({ ...input, carried: m.carry() });
      }
    });
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      // The cancel came while the mission set up (its claim or its integration worktree).
      if (!m.halt.cancel) m.halt.requestCancel(m.state.reason ?? 'cancelled (workflow cancellation requested)');
      await steps.childrenStopped();
    } else {
      // An activity out of retries (e.g. the base branch vanished): the mission ends failed with
      // the reason, and its state stays queryable.
      steps.stopOn(err);
    }
  }
  const result = steps.end();
  await CancellationScope.nonCancellable(() => steps.notifier.ended(result, m.state.landing ?? undefined));
  if (cancelRequested) throw new CancelledFailure(result.reason ?? 'cancelled');
  if (result.phase === 'failed')
    throw ApplicationFailure.create({
      type: ErrorType.MissionFailed,
      message: `mission ${input.spec.id} failed: ${result.reason ?? 'not every task merged'}`,
      nonRetryable: true,
      details: [result, m.carry()],
    });
  return result;
}
