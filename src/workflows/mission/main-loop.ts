/**
 * The mission's main loop: set up on the repository's host, then start each task as soon as its
 * dependencies are merged and verified (and the tasks its `touches` overlap have ended), at most
 * `concurrency` at once and none while paused or blocked; a task that succeeds enters the merge
 * queue at once (merge-queue.ts). Waves are only the plan. While two or more tasks run, their live
 * work is compared every {@link PREDICT_EVERY_MS} to predict conflicts. A mission whose tasks all
 * merged lands (`land:`).
 */
import { condition, sleep, workflowInfo } from '@temporalio/workflow';
import { failureMessage } from '../../mission/failures';
import { refreshWaves, StartDecisions } from '../../mission/schedule';
import { names } from '../../mission/types';
import { MergeQueue } from './merge-queue';
import type { Mission } from './state';
import { MissionSteps, now } from './steps';
import { MISSION_VERIFY_COMMAND_TIMEOUT_MS } from '../limits';
import { ids, line } from '../summaries';

/** How often running tasks' work is compared for predicted conflicts, ms. */
export const PREDICT_EVERY_MS = 60_000;

/** How the main loop ended: `continue` means continue-as-new at this quiet point. */
export type MainLoopEnd = 'done' | 'continue';

/**
 * Runs the mission until every task has ended and merged what it could, or until Temporal
 * suggests continue-as-new (then it drains: no task starts, and it returns `continue` once nothing
 * runs or waits to merge).
 */
export async function mainLoop(m: Mission, steps: MissionSteps): Promise<MainLoopEnd> {
  const { spec } = m;
  const s = m.state;
  s.mergeQueue = true;
  await steps.setup();
  const mergeQueue = new MergeQueue(m, spec, steps.hostActs.mergeQueue(), {
    blockUntilLifted: (b) => steps.blockUntilLifted(b),
    setPhase: (p) => steps.setPhase(p),
    now,
    commandNames: steps.commandNames,
  });
  steps.onTaskEnded = (id, outcome) => {
    if (m.task(id).status === 'succeeded')
      mergeQueue.enqueue(id, outcome.kind === 'result' ? (outcome.result as { summary?: string }).summary : undefined);
    refreshWaves(s);
  };
  // A reopened mission, or one the merge queue stopped merging: what succeeded and never merged goes first.
  for (const t of s.tasks) if (t.status === 'succeeded' && !s.queue!.includes(t.id)) s.queue!.push(t.id);

  let drain = false;
  let done = false;
  const closeMergeQueue = (): boolean =>
    m.halt.cancel !== null || (m.halt.stop !== null && spec.policy.onTaskFailure === 'stop-all');
  const merger = mergeQueue.run(() => done || closeMergeQueue());
  const predictor = predictWhileRunning(m, steps, () => done);

  const decisions = new StartDecisions(spec, s);
  /** Marks pending tasks whose dependency ended unmerged as skipped. */
  const skipGone = (): void => {
    for (const { task: t, because } of decisions.skips(m.inFlight)) {
      t.status = 'skipped';
      t.error = `skipped: depends on ${because.id} (${because.status})`;
    }
  };
  // A task `pause --now` holds shows `pending` while its child waits: it is in flight, not ready.
  const firstReady = (): string | undefined => decisions.firstReady(m.inFlight);
  const mayStart = (): boolean =>
    !m.halt.halted && !s.paused && !s.blocked && !drain && m.inFlight.size < spec.concurrency;
  const quiet = (): boolean => m.inFlight.size === 0 && (mergeQueue.idle || (mergeQueue.closed && !s.batch));
  const over = (): boolean => quiet() && (m.halt.halted || drain || firstReady() === undefined);

  for (;;) {
    skipGone();
    refreshWaves(s);
    if (workflowInfo().continueAsNewSuggested && !drain) drain = true;
    if (mayStart()) {
      const next = firstReady();
      if (next !== undefined) {
        start(m, steps, next);
        continue;
      }
    }
    if (closeMergeQueue()) mergeQueue.closed = true;
    if (over()) break;
    await condition(
      () =>
        (mayStart() && firstReady() !== undefined) ||
        over() ||
        (closeMergeQueue() && !mergeQueue.closed) ||
        decisions.skips(m.inFlight).length > 0 ||
        (!drain && workflowInfo().continueAsNewSuggested),
    );
  }
  done = true;
  if (m.halt.halted) mergeQueue.closed = true;
  await merger;
  await predictor;
  refreshWaves(s);
  if (!m.halt.halted && s.tasks.every((t) => t.status === 'merged')) await land(m, steps);
  return drain && !m.halt.halted && s.tasks.some((t) => t.status === 'pending') ? 'continue' : 'done';
}

/** Starts a task: a culprit sent back under `fix` gets its request and starts from its merge's base. */
function start(m: Mission, steps: MissionSteps, id: string): void {
  const s = m.state;
  const fix = s.fixRequests?.[id];
  if (fix) delete s.fixRequests![id];
  void steps.launch(id, fix ? { fix: { ...fix, round: s.fixes?.[id] ?? 1 }, baseSha: fix.onto } : {});
}

/**
 * Compares running tasks' live work (checkpoint ref, else branch) every {@link PREDICT_EVERY_MS}
 * while two or more run, or one runs while a task with `touches` waits: predicted conflicts show
 * in `status`, and a pending task whose `touches` match a running task's changed files waits for it.
 */
async function predictWhileRunning(m: Mission, steps: MissionSteps, stop: () => boolean): Promise<void> {
  const { spec } = m;
  const s = m.state;
  const acts = steps.hostActs.mergeQueue();
  const running = (): string[] => s.tasks.filter((t) => t.status === 'running').map((t) => t.id);
  const waiting = (): Array<{ taskId: string; touches: string[] }> =>
    s.tasks
      .filter((t) => t.status === 'pending' && (m.specOf(t.id).touches ?? []).length > 0)
      .map((t) => ({ taskId: t.id, touches: m.specOf(t.id).touches! }));
  const worthIt = (): boolean => running().length >= 2 || (running().length >= 1 && waiting().length > 0);
  for (;;) {
    await condition(() => stop() || worthIt());
    if (stop()) break;
    try {
      const summary = line(
        `predict conflicts of ${ids(running())}${waiting().length ? ` for ${ids(waiting().map((w) => w.taskId))}` : ''}`,
      );
      const r = await acts.predictConflicts.executeWithOptions({ summary }, [
        {
          repo: spec.repo,
          base: s.integrationSha!,
          running: running().map((id) => ({
            taskId: id,
            refs: [names.checkpointRef(spec.id, id), `refs/heads/${names.taskBranch(spec.id, id)}`],
          })),
          pending: waiting(),
        },
      ]);
      s.predicted = r.conflicts;
      s.waitingFor = r.waitFor;
    } catch {
      // A prediction is advice: a failure to make one never stops the mission.
      s.predicted = [];
      s.waitingFor = {};
    }
    await Promise.race([sleep(PREDICT_EVERY_MS, { summary: 'until the next conflict prediction' }), condition(stop)]);
  }
  s.predicted = [];
  s.waitingFor = {};
}

/**
 * `land: ff | push | pr`: a completed mission lands its verified integration branch. A landing
 * that needs a person or fails leaves the mission completed (its work is merged and verified) and
 * says what happened in `status`; `flotilla land` can then be run by hand.
 */
async function land(m: Mission, steps: MissionSteps): Promise<void> {
  const { spec } = m;
  const s = m.state;
  const mode = spec.land ?? 'none';
  if (mode === 'none') return;
  const acts = steps.hostActs.mergeQueue();
  try {
    const r = await acts.landMission.executeWithOptions(
      { summary: `land ${s.integrationBranch} on ${spec.base} (${mode})` },
      [
        {
          missionId: spec.id,
          repo: spec.repo,
          baseBranch: spec.base,
          baseSha: s.baseSha!,
          integrationBranch: s.integrationBranch,
          integrationSha: s.integrationSha!,
          tasks: s.tasks.map((t) => ({
            id: t.id,
            title: t.title,
            branch: t.branch,
            runtime: m.specOf(t.id).agent.runtime,
            model: m.specOf(t.id).agent.model,
            costUsd: t.costUsd,
            diffstat: t.diffstat,
          })),
          verify: spec.verify,
          verifyTimeoutMs: MISSION_VERIFY_COMMAND_TIMEOUT_MS,
          integrationWorktree: s.integrationWorktree!,
          setup: spec.setup,
          ...steps.commandNames,
          mode,
          date: now(),
          notes: { conflicts: s.conflicts, verifyRuns: s.verifyRuns },
        },
      ],
    );
    if (r.status === 'landed') {
      const pr = r.pr
        ? r.pr.url
          ? `; pull request ${r.pr.url}`
          : `; open the pull request with: ${r.pr.command.join(' ')}`
        : '';
      s.landing = {
        mode,
        status: 'landed',
        sha: r.landed,
        message: `${r.alreadyLanded ? 'already landed' : `landed on ${r.base}`}${r.pushed.length ? ` (pushed ${r.pushed.join(', ')} to ${r.remote})` : ''}${pr}`,
      };
    } else s.landing = { mode, status: r.status, sha: null, message: r.message };
  } catch (err) {
    s.landing = { mode, status: 'failed', sha: null, message: failureMessage(err) };
  }
}
