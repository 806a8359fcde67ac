/**
 * missionWorkflow: one mission, workflow id `mission-<missionId>`.
 *
 * Set up (claim the repository's host; record the base SHA once, so a resumed mission merges into
 * the same base; create the integration branch and worktree), then wave after wave: run its tasks
 * as `taskWorkflow` children (at most `concurrency` at once, none while paused), merge the
 * succeeded branches in task order, run the mission verify, and continue as new at a wave boundary
 * when the history grows long. The loop always takes the first wave with pending tasks, so a task
 * `flotilla retry` made pending runs again after the wave in flight, in dependency order.
 *
 * The rules (retry, skip, pause, budget, block, stop, cancel) live in `Mission` (mission-state.ts),
 * the handlers in mission-handlers.ts, the steps in mission-steps.ts. See docs/architecture.md.
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
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import { ErrorType } from '../mission/error-types';
import type { MissionProgress } from '../mission/progress';
import type { MissionSpec } from '../mission/types';
import { installMissionHandlers } from './mission-handlers';
import { CarriedState, Mission } from './mission-state';
import { MissionSteps } from './mission-steps';
import { queueStory } from './mission-queue';

export type { CarriedState } from './mission-state';

export interface MissionInput {
  spec: MissionSpec;
  /** Set Flotilla's search attributes (the client registered them on this namespace). */
  searchAttributes?: boolean;
  /**
   * The namespace also has the progress, cost, repository and runtime attributes (clients since
   * the Web UI story register them); only then does the workflow set them.
   */
  storyAttributes?: boolean;
  /** What a continued-as-new or reopened run carries from the one before (absent on the first run). */
  carried?: CarriedState;
}

export type MissionResult = MissionProgress;

export async function missionWorkflow(input: MissionInput): Promise<MissionResult> {
  // It started when its workflow did (not at its first workflow task, which may wait for a worker).
  const info = workflowInfo();
  const m = new Mission(input.spec, input.carried, info.firstExecutionRunId, info.startTime.toISOString());
  const steps = new MissionSteps(m, input.spec, !!input.searchAttributes, !!input.storyAttributes);
  // A reopened run is reopened before any handler runs: a retry racing the reopen sees its task pending.
  const reopen = input.carried?.reopen;
  if (reopen) m.reopen(reopen);
  installMissionHandlers(m, steps.effects);
  // Versioning: missions started before this ended Completed whatever their outcome, and a
  // cancellation request cancelled every scope at once. Now a request cancels like `cancel` does
  // (merges in progress finish, agents stop after a checkpoint) and the run ends Canceled or Failed.
  const outcomeStatus = patched('mission-outcome-status');
  let cancelRequested = false;
  if (outcomeStatus) {
    CancellationScope.current().cancelRequested.catch(() => {
      cancelRequested = true;
      if (m.halt.requestCancel('cancelled (workflow cancellation requested)')) steps.effects.cancelAll();
    });
  }
  // Clients before this started a reopened run with the phase `running`.
  if (reopen && outcomeStatus) steps.setPhase('planning');
  // Versioning: missions started before the merge queue merge wave by wave and replay that way.
  const mergeQueue = patched('merge-queue');

  const waveStory = async (): Promise<void> => {
    await steps.setup();
    // Versioning: histories recorded before `retry` went wave by wave and must replay that way.
    m.rerunsEarlierWaves = patched('retry-reruns-earlier-waves');
    let inOrder = m.state.currentWave;
    for (;;) {
      // Soft pause holds the next wave; a cancel or stop ends the loop.
      await condition(() => m.halt.halted || !m.state.paused);
      const w = m.halt.halted ? -1 : m.nextWave(inOrder);
      if (w < 0) break;
      m.state.currentWave = w;
      inOrder = w + 1;
      m.state.waves[w].status = 'running';
      steps.setPhase('running');
      const preWaveSha = m.state.integrationSha!;
      await steps.runWave(w);
      if (m.halt.cancel || (input.spec.policy.onTaskFailure === 'stop-all' && m.halt.stop)) {
        m.state.waves[w].status = 'cancelled';
        break;
      }
      const mergedNow = await steps.mergeWave(w);
      await steps.verifyWave(w, preWaveSha, mergedNow);
      m.waveDone(w);
      if (!m.state.paused) steps.setPhase('running');
      await continueAsNewIfSuggested(m, steps, input, inOrder);
    }
  };

  const story = async (): Promise<void> => {
    if (!mergeQueue) return waveStory();
    if ((await queueStory(m, steps)) === 'continue') {
      await condition(allHandlersFinished);
      steps.flushAttributes();
      await continueAsNew<typeof missionWorkflow>({ ...input, carried: m.carry() });
    }
  };

  try {
    await (outcomeStatus ? CancellationScope.nonCancellable(story) : story());
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      // `cancel` during setup, or (older missions) a workflow cancellation request: the children
      // are cancelled with it; wait until they have stopped their agents.
      if (!m.halt.cancel) m.halt.requestCancel(m.state.reason ?? 'cancelled (workflow cancellation requested)');
      await steps.childrenStopped();
    } else {
      // An activity out of retries (e.g. the base branch vanished): the mission ends failed with
      // the reason, and its state stays queryable.
      steps.stopOn(err);
    }
  }
  const result = steps.end();
  if (outcomeStatus && cancelRequested) throw new CancelledFailure(result.reason ?? 'cancelled');
  if (outcomeStatus && result.phase === 'failed')
    throw ApplicationFailure.create({
      type: ErrorType.MissionFailed,
      message: `mission ${input.spec.id} failed: ${result.reason ?? 'not every task merged'}`,
      nonRetryable: true,
      details: [result, m.carry()],
    });
  return result;
}

/**
 * At a wave boundary no child runs, so when Temporal suggests it the history starts over carrying
 * the state. The next run claims the host again and reuses the integration branch and worktree,
 * which belong to the mission's first run id.
 */
async function continueAsNewIfSuggested(
  m: Mission,
  steps: MissionSteps,
  input: MissionInput,
  inOrder: number,
): Promise<void> {
  const next = m.nextWave(inOrder);
  if (!workflowInfo().continueAsNewSuggested || next < 0 || m.halt.halted) return;
  m.state.currentWave = next;
  await condition(allHandlersFinished);
  steps.flushAttributes();
  await continueAsNew<typeof missionWorkflow>({ ...input, carried: m.carry() });
}
