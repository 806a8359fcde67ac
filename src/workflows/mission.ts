/**
 * missionWorkflow: one mission, workflow id `mission-<missionId>`.
 *
 * claim a host -> record base branch + SHA, create the integration branch and worktree -> per
 * wave: run its tasks as `taskWorkflow` children (at most `concurrency` at once, none while
 * paused) -> merge the succeeded branches in task order (`--no-ff`) -> mission verify -> next
 * wave, which starts from the integration branch as merged. The base SHA is recorded once and
 * carried in state, so a resumed mission merges into the same base, never a configured default.
 *
 * Waves run in order; a task `flotilla retry` makes pending again (with its skipped dependents)
 * runs when its wave comes round again, after the wave in flight: the loop always takes the first
 * wave that still has pending tasks, which keeps the dependency order.
 */
import {
  allHandlersFinished,
  CancellationScope,
  ContinueAsNew,
  continueAsNew,
  condition,
  startChild,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { deriveProgress, initialState, MissionProgress, MissionState, TaskState } from '../mission/progress';
import { retryRejection, skippedBySystem } from '../mission/control';
import { MissionSpec, names, SEARCH_ATTRIBUTES } from '../mission/types';
import {
  cancelSignal,
  holdSignal,
  MAX_STEER_MESSAGE_CHARS,
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
import { ACTIVITY_SLACK_MS, MISSION_VERIFY_COMMAND_TIMEOUT_MS, SETUP_COMMAND_TIMEOUT_MS } from './limits';
import { dependentsOf, planWaves } from './plan';
import { failureMessage, TaskUsage, taskWorkflow } from './task';

export interface MissionInput {
  spec: MissionSpec;
  /** Set Flotilla's search attributes (the client registered them on this namespace). */
  searchAttributes?: boolean;
  /** What a continued-as-new run carries from the one before (absent on the first run). */
  carried?: CarriedState;
}

/** Mission state across continue-as-new: everything decided so far. */
export interface CarriedState {
  state: MissionState;
  resumes: number;
  budgetTripped: boolean;
  /** Tasks `flotilla retry` made pending that have not started yet: their usage and last error. */
  retries?: Record<string, { usage: TaskUsage; error: string | null }>;
  /** Each task's latest usage, session totals included (the base of a retry). */
  lastUsage?: Record<string, TaskUsage>;
  /** The run before already took the `retry-reruns-earlier-waves` path. */
  rerunsEarlierWaves?: boolean;
  /**
   * The run id that owns the mission's branches and worktrees: the first run of the first
   * execution. Carried because a reopened mission is a new execution with a new first run id.
   */
  ownerRunId?: string;
  /** Reopen an ended (failed) mission by retrying this task: set by `flotilla retry` on it. */
  reopen?: string;
}

export type MissionResult = MissionProgress;

const shared = proxyActivities<Activities>({
  // Any worker may answer; the answer names the host queue everything else goes to.
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', maximumInterval: '30s' },
});

export async function missionWorkflow(input: MissionInput): Promise<MissionResult> {
  const { spec } = input;
  const info = workflowInfo();
  const now = (): string => new Date().toISOString();
  const state: MissionState = input.carried?.state ?? initialState(spec, planWaves(spec.tasks), now());
  const task = (id: string): TaskState => state.tasks.find((t) => t.id === id)!;
  const ownerRunId = input.carried?.ownerRunId ?? info.firstExecutionRunId;
  const specOf = (id: string) => spec.tasks.find((t) => t.id === id)!;

  let cancelRequested = false;
  let resumes = input.carried?.resumes ?? 0;
  /** Set by stop-wave / stop-all / a failing merge or verify: no later wave starts. */
  let stopReason: string | null = null;
  /** The task whose failure set `stopReason`, so retrying it lifts the stop. */
  let stoppedBy: string | null = null;
  /** Tasks `pause --now` stopped, released by `resume`. */
  const held = new Set<string>();
  /** Running tasks `flotilla skip` is stopping. */
  const skipping = new Set<string>();
  /** The task whose branch is being merged right now (it can no longer be skipped). */
  let merging: string | null = null;
  /** Bumped by `skip` to wake a mission blocked on the skipped task's conflict. */
  let nudges = 0;
  /** The latest usage each task reported (session totals included), the base of a retry. */
  const lastUsage = new Map(Object.entries(input.carried?.lastUsage ?? {}));
  const retries = new Map(Object.entries(input.carried?.retries ?? {}));
  /**
   * Whether the wave loop takes the first wave with pending tasks (so a retried task of an earlier
   * wave runs again) rather than the next wave in order, as missions started before retry did.
   */
  let rerunsEarlierWaves = input.carried?.rerunsEarlierWaves ?? false;
  /** Tasks whose child workflow has started (signals can reach it). */
  const childStarted = new Set<string>();
  const running = new Map<string, CancellationScope>();
  /** Every task still in flight, so a cancelled mission can wait for its children to stop. */
  const inFlight = new Set<Promise<void>>();
  /** Host claim and integration setup; cancelled by `cancel` (the claim may wait for a worker). */
  const setupScope = new CancellationScope();

  const setPhase = (phase: MissionState['phase']): void => {
    state.phase = phase;
    if (input.searchAttributes) upsertSearchAttributes({ [SEARCH_ATTRIBUTES.phase]: [phase] });
  };
  const cancelRunning = (): void => {
    for (const scope of running.values()) scope.cancel();
  };

  setHandler(progressQuery, () => deriveProgress(spec.id, state));
  /** Signals a running task's workflow; a task that has just ended is not an error. */
  const toTask = async (id: string, send: (h: ReturnType<typeof getExternalWorkflowHandle>) => Promise<void>) => {
    await send(getExternalWorkflowHandle(names.taskWorkflowId(spec.id, id))).catch(() => undefined);
  };
  setHandler(pauseSignal, async (arg) => {
    if (state.endedAt) return;
    state.paused = true;
    if (!state.blocked) state.reason = arg?.reason ?? (arg?.now ? 'paused by user (--now)' : 'paused by user');
    if (!arg?.now) return;
    const ids = [...running.keys()].filter((id) => !held.has(id));
    ids.forEach((id) => held.add(id));
    await Promise.all(ids.map((id) => toTask(id, (h) => h.signal(holdSignal))));
  });
  setHandler(resumeSignal, async () => {
    state.paused = false;
    resumes++;
    if (!state.blocked) state.reason = null;
    const ids = [...held];
    held.clear();
    await Promise.all(ids.map((id) => toTask(id, (h) => h.signal(releaseSignal))));
  });
  let budgetTripped = input.carried?.budgetTripped ?? false;
  setHandler(taskUpdateSignal, ({ taskId, usage, note, held: isHeld }) => {
    const t = state.tasks.find((x) => x.id === taskId);
    if (!t || !running.has(taskId)) return;
    applyUsage(t, usage);
    t.error = note;
    // A held task has no attempt in flight: status says `pending`, never a stale `running`.
    if (isHeld !== undefined) t.status = isHeld ? 'pending' : 'running';
    checkBudget();
  });

  const known = (taskId: string): TaskState => {
    const t = state.tasks.find((x) => x.id === taskId);
    if (!t) {
      throw new Error(
        `mission ${spec.id} has no task "${taskId}"; its tasks: ${state.tasks.map((x) => x.id).join(', ')}`,
      );
    }
    return t;
  };
  const notEnding = (verb: string): void => {
    if (cancelRequested) throw new Error(`mission ${spec.id} is being cancelled; there is nothing to ${verb}`);
    if (state.endedAt) throw new Error(`mission ${spec.id} has ended; there is nothing to ${verb}`);
  };

  setHandler(
    steerUpdate,
    async ({ taskId, message, queue }) => {
      // Not swallowed: a task that ended just now cannot take the message, and the user must know.
      await getExternalWorkflowHandle(names.taskWorkflowId(spec.id, taskId)).signal(steerTaskSignal, {
        message,
        queue: !!queue,
      });
      return { taskId, delivery: queue || held.has(taskId) ? 'queued' : 'interrupt' };
    },
    {
      validator: ({ taskId, message }) => {
        notEnding('steer');
        const t = known(taskId);
        if (!running.has(taskId) || skipping.has(taskId))
          throw new Error(`task ${taskId} is ${t.status}, not running: only a running task's agent can be steered`);
        if (!childStarted.has(taskId)) throw new Error(`task ${taskId} is starting; try again in a moment`);
        if (typeof message !== 'string' || message.trim() === '') throw new Error('the message is empty');
        if (message.length > MAX_STEER_MESSAGE_CHARS)
          throw new Error(
            `the message has ${message.length} characters; at most ${MAX_STEER_MESSAGE_CHARS} (put long instructions in a file in the repository and point the agent to it)`,
          );
      },
    },
  );

  /** Tasks that depend on `id`, directly or not. */
  const dependentsClosure = (id: string): string[] => {
    const out: string[] = [];
    const visit = (x: string): void => {
      for (const d of dependentsOf(spec.tasks, x)) {
        if (out.includes(d)) continue;
        out.push(d);
        visit(d);
      }
    };
    visit(id);
    return out;
  };
  /** Makes `taskId` pending again (with what it needs to continue) and reopens its dependents. */
  const applyRetry = (taskId: string): string[] => {
    const t = task(taskId);
    // A task that never ran (skipped as a dependent) simply runs; one that ran continues.
    if (t.attempts > 0 || t.startedAt !== null)
      retries.set(taskId, {
        usage: lastUsage.get(taskId) ?? {
          sessionId: t.sessionId,
          sessionCostUsd: 0,
          sessionInputTokens: 0,
          sessionOutputTokens: 0,
          turns: t.turns,
          costUsd: t.costUsd,
          inputTokens: t.inputTokens,
          outputTokens: t.outputTokens,
          attempts: t.attempts,
        },
        error: t.error,
      });
    t.status = 'pending';
    t.error = null;
    t.endedAt = null;
    if (stoppedBy === taskId) {
      stopReason = null;
      stoppedBy = null;
    }
    // Dependents skipped because of this task (not those a user skipped) can run again.
    const reopened = dependentsClosure(taskId).filter((d) => {
      const x = task(d);
      return x.status === 'skipped' && (x.error ?? '').startsWith('skipped: depends on');
    });
    for (const d of reopened) {
      task(d).status = 'pending';
      task(d).error = null;
    }
    return reopened;
  };
  setHandler(retryUpdate, ({ taskId }) => ({ taskId, reopened: applyRetry(taskId) }), {
    validator: ({ taskId }) => {
      notEnding('retry');
      if (!rerunsEarlierWaves)
        throw new Error(`mission ${spec.id} was started by an older Flotilla that cannot retry tasks`);
      const why = retryRejection(spec, state, taskId, running.has(taskId));
      if (why) throw new Error(why);
      if (stopReason !== null && stoppedBy !== taskId)
        throw new Error(`mission ${spec.id} is stopping (${stopReason}); a retry cannot run`);
    },
  });

  setHandler(
    skipUpdate,
    ({ taskId }) => {
      const t = task(taskId);
      const was = t.status;
      if (running.has(taskId)) {
        // The task workflow is cancelled: its agent is killed and its work kept; runTask marks it.
        skipping.add(taskId);
        running.get(taskId)!.cancel();
      } else {
        t.status = 'skipped';
        t.error = `skipped by user (was ${was}${t.error ? `: ${t.error}` : ''})`;
        t.endedAt ??= now();
        // Only the task a blocked mission waits on (its conflict) unblocks it.
        if (was === 'conflict') nudges++;
      }
      const before = new Set(state.tasks.filter((x) => x.status === 'skipped').map((x) => x.id));
      skipDependents(taskId, 'skipped by user');
      const skipped = state.tasks.filter((x) => x.status === 'skipped' && !before.has(x.id)).map((x) => x.id);
      return { taskId, was, skipped };
    },
    {
      validator: ({ taskId }) => {
        notEnding('skip');
        const t = known(taskId);
        if (['merged', 'skipped', 'cancelled'].includes(t.status) || skipping.has(taskId))
          throw new Error(
            `task ${taskId} is ${skipping.has(taskId) ? 'being skipped' : t.status}; there is nothing to skip`,
          );
        if (merging === taskId)
          throw new Error(`task ${taskId} is being merged right now; it can no longer be skipped`);
      },
    },
  );
  setHandler(cancelSignal, (arg) => {
    if (cancelRequested || state.endedAt) return;
    cancelRequested = true;
    state.reason = arg?.reason ?? 'cancelled by user';
    setupScope.cancel();
    cancelRunning();
  });

  const applyUsage = (t: TaskState, u: TaskUsage): void => {
    // Only the counters: `u` may be a whole TaskResult, whose status must not travel with a retry.
    lastUsage.set(t.id, {
      sessionId: u.sessionId,
      sessionCostUsd: u.sessionCostUsd,
      sessionInputTokens: u.sessionInputTokens,
      sessionOutputTokens: u.sessionOutputTokens,
      turns: u.turns,
      costUsd: u.costUsd,
      inputTokens: u.inputTokens,
      outputTokens: u.outputTokens,
      attempts: u.attempts,
    });
    t.sessionId = u.sessionId ?? t.sessionId;
    t.turns = u.turns;
    t.costUsd = u.costUsd;
    t.inputTokens = u.inputTokens;
    t.outputTokens = u.outputTokens;
    t.attempts = u.attempts;
  };
  /** Passing the budget pauses the mission once (soft: running tasks finish); `resume` goes on. */
  const checkBudget = (): void => {
    if (budgetTripped || spec.budgetUsd === undefined) return;
    const spent = state.tasks.reduce((sum, t) => sum + t.costUsd, 0);
    if (spent < spec.budgetUsd) return;
    budgetTripped = true;
    state.paused = true;
    if (!state.blocked)
      state.reason = `budget of $${spec.budgetUsd} reached ($${spent.toFixed(2)} spent); \`flotilla resume ${spec.id}\` to go on`;
  };

  /** Waits for `resume` (or cancel) while blocked on something a human must look at. */
  const blockUntilResumed = async (reason: string): Promise<boolean> => {
    const seen = resumes;
    const seenNudges = nudges;
    state.blocked = true;
    state.reason = reason;
    await condition(() => resumes > seen || nudges > seenNudges || cancelRequested);
    state.blocked = false;
    if (!cancelRequested) state.reason = state.paused ? 'paused by user' : null;
    return !cancelRequested;
  };

  const skipDependents = (id: string, why: string): void => {
    for (const dep of dependentsOf(spec.tasks, id)) {
      const t = task(dep);
      if (t.status === 'pending') {
        t.status = 'skipped';
        t.error = `skipped: depends on ${id} (${why})`;
      }
    }
  };

  const onTaskFailed = (t: TaskState): void => {
    skipDependents(t.id, t.status);
    const policy = spec.policy.onTaskFailure;
    if (policy === 'skip-dependents') return;
    if (stopReason === null) {
      stopReason = `task ${t.id} ${t.status} (onTaskFailure: ${policy})`;
      stoppedBy = t.id;
    }
    if (policy === 'stop-all') cancelRunning();
  };

  const runTask = async (id: string, hostQueue: string): Promise<void> => {
    const t = task(id);
    t.status = 'running';
    t.startedAt = now();
    t.endedAt = null;
    const scope = new CancellationScope();
    running.set(id, scope);
    const retry = retries.get(id);
    retries.delete(id);
    try {
      const result = await scope.run(async () => {
        const child = await startChild(taskWorkflow, {
          workflowId: names.taskWorkflowId(spec.id, id),
          taskQueue: info.taskQueue,
          args: [
            {
              missionId: spec.id,
              runId: ownerRunId,
              repo: spec.repo,
              hostQueue,
              baseSha: state.integrationSha!,
              task: specOf(id),
              setup: spec.setup,
              copy: spec.copy,
              ...(retry ? { retry } : {}),
            },
          ],
          searchAttributes: input.searchAttributes
            ? { [SEARCH_ATTRIBUTES.missionId]: [spec.id], [SEARCH_ATTRIBUTES.taskId]: [id] }
            : undefined,
        });
        childStarted.add(id);
        // `pause --now` that came while the child was starting could not reach it then.
        if (held.has(id)) await child.signal(holdSignal);
        return child.result();
      });
      applyUsage(t, result);
      t.headSha = result.headSha;
      t.diffstat = result.diffstat;
      t.iterations = result.iterations;
      if (skipping.has(id) && !cancelRequested) {
        // The task finished just as `skip` stopped it: the user's decision stands.
        t.status = 'skipped';
        t.error = `skipped by user (it had just ${result.status === 'failed' ? 'failed' : 'finished'}; its branch is not merged)`;
      } else {
        t.status = result.status;
        t.error = result.error;
      }
      checkBudget();
    } catch (err) {
      if (isCancellation(err) && skipping.has(id) && !cancelRequested) {
        t.status = 'skipped';
        t.error = 'skipped by user (its agent was stopped; the work is kept on its branch and worktree)';
      } else if (isCancellation(err)) {
        t.status = 'cancelled';
        t.error = cancelRequested ? state.reason : (stopReason ?? 'cancelled');
      } else {
        t.status = 'failed';
        t.error = failureMessage(err);
      }
    } finally {
      running.delete(id);
      held.delete(id);
      skipping.delete(id);
      childStarted.delete(id);
      t.endedAt = now();
    }
    if (t.status === 'failed') onTaskFailed(t);
  };

  /** Starts the wave's tasks, at most `concurrency` at once and none while paused, and waits for all. */
  const runWave = async (w: number, hostQueue: string): Promise<void> => {
    const started: Promise<void>[] = [];
    for (const id of state.waves[w].taskIds) {
      await condition(
        () => cancelRequested || stopReason !== null || (!state.paused && running.size < spec.concurrency),
      );
      const t = task(id);
      if (cancelRequested || stopReason !== null) break;
      if (t.status !== 'pending') continue;
      const deps = specOf(id).dependsOn.map(task);
      // A dependency `retry` made pending again runs first (an earlier wave); this one waits for it.
      if (deps.some((d) => ['pending', 'running', 'succeeded'].includes(d.status))) continue;
      const blockedBy = deps.find((d) => d.status !== 'merged')?.id;
      if (blockedBy) {
        t.status = 'skipped';
        t.error = `skipped: depends on ${blockedBy} (${task(blockedBy).status})`;
        continue;
      }
      const run = runTask(id, hostQueue);
      inFlight.add(run);
      void run.finally(() => inFlight.delete(run));
      started.push(run);
    }
    await Promise.all(started);
  };

  /** Merges the wave's succeeded tasks; returns the ids merged by this pass. */
  const mergeWave = async (w: number, git: ReturnType<typeof proxyActivities<Activities>>): Promise<string[]> => {
    const merged: string[] = [];
    setPhase('merging');
    state.waves[w].status = 'merging';
    for (const id of state.waves[w].taskIds) {
      const t = task(id);
      if (t.status !== 'succeeded' || cancelRequested) continue;
      for (;;) {
        merging = id;
        const r = await git.mergeBranch({
          worktree: state.integrationWorktree!,
          repo: spec.repo,
          branch: t.branch,
          taskId: id,
          title: t.title,
        });
        merging = null;
        if (r.status === 'merged') {
          t.status = 'merged';
          t.error = null;
          state.integrationSha = r.sha;
          merged.push(id);
          break;
        }
        t.status = 'conflict';
        t.error = r.message;
        const policy = spec.policy.onMergeConflict;
        if (policy === 'fail' || cancelRequested) {
          skipDependents(id, 'conflict');
          stopReason ??= `task ${id}: ${r.message} (onMergeConflict: fail)`;
          break;
        }
        // `resolve` (a resolver agent) is not available in this version: a human resolves.
        const reason = `task ${id}: ${r.message}; make ${t.branch} merge cleanly into ${state.integrationBranch}, then \`flotilla resume ${spec.id}\``;
        if (!(await blockUntilResumed(reason))) break;
        // `flotilla skip` gave up on the conflicting task: its dependents were skipped with it.
        if (task(id).status === 'skipped') break;
        t.status = 'succeeded';
      }
    }
    return merged;
  };

  const verifyWave = async (
    w: number,
    preWaveSha: string,
    mergedNow: string[],
    git: ReturnType<typeof proxyActivities<Activities>>,
  ): Promise<void> => {
    if (cancelRequested) return;
    if (spec.verify.length === 0 || !state.waves[w].taskIds.some((id) => task(id).status === 'merged')) return;
    state.waves[w].status = 'verifying';
    for (;;) {
      const r = await verifier.runChecks({
        cwd: state.integrationWorktree!,
        commands: spec.verify,
        timeoutMs: MISSION_VERIFY_COMMAND_TIMEOUT_MS,
        logFile: `${state.integrationWorktree}.verify.log`,
      });
      if (r.ok) return;
      const f = r.failed!;
      const why = `mission verify \`${f.command}\` failed after wave ${w} (exit ${f.exitCode ?? 'timeout'})`;
      const policy = spec.policy.onVerifyFailure;
      if (policy === 'pause') {
        if (await blockUntilResumed(`${why}; fix ${state.integrationBranch}, then \`flotilla resume ${spec.id}\``))
          continue;
        return;
      }
      if (policy === 'revert') {
        await git.resetIntegration({ worktree: state.integrationWorktree!, repo: spec.repo, sha: preWaveSha });
        state.integrationSha = preWaveSha;
        // Only what this pass merged was reverted (a wave run again after a retry keeps the rest).
        for (const id of mergedNow) {
          const t = task(id);
          t.status = 'failed';
          t.error = `${why}; the wave's merges were reverted`;
          skipDependents(id, 'reverted');
        }
        return;
      }
      stopReason ??= `${why} (onVerifyFailure: fail)`;
      return;
    }
  };

  const finish = (): MissionResult => {
    state.endedAt = now();
    for (const t of state.tasks) {
      if (t.status === 'pending') {
        t.status = 'skipped';
        t.error ??= cancelRequested ? 'skipped: mission cancelled' : `skipped: ${stopReason ?? 'mission stopped'}`;
      }
    }
    state.paused = false;
    state.blocked = false;
    // Waves never run because every task in them was skipped (or the mission stopped first).
    for (const wave of state.waves) if (wave.status === 'pending') wave.status = 'skipped';
    for (const t of state.tasks) {
      // Only reachable when the workflow itself was cancelled before its children reported back.
      if (t.status === 'running') {
        t.status = 'cancelled';
        t.error = state.reason;
        t.endedAt = state.endedAt;
      }
    }
    if (cancelRequested) setPhase('cancelled');
    else if (stopReason === null && state.tasks.every((t) => t.status === 'merged')) {
      setPhase('completed');
      state.reason = null;
    } else {
      setPhase('failed');
      const bad = state.tasks.filter((t) => t.status !== 'merged').map((t) => `${t.id} ${t.status}`);
      state.reason = stopReason ?? `not every task merged: ${bad.join(', ')}`;
    }
    return deriveProgress(spec.id, state);
  };

  const reopen = input.carried?.reopen;
  if (reopen) {
    // `flotilla retry` on a mission that ended failed: it goes on from its final state. What
    // Flotilla skipped or cancelled because of the failure runs again; what the user skipped stays.
    state.endedAt = null;
    state.reason = null;
    // Not `failed` while it sets up again: status derives a terminal phase from it.
    state.phase = 'planning';
    for (const t of state.tasks) {
      if (t.id === reopen || !(skippedBySystem(t) || t.status === 'cancelled')) continue;
      t.status = 'pending';
      t.error = null;
      t.endedAt = null;
    }
    applyRetry(reopen);
    for (const w of state.waves) if (w.taskIds.some((id) => task(id).status === 'pending')) w.status = 'pending';
  }

  let verifier: ReturnType<typeof proxyActivities<Activities>>;
  try {
    const { hostQueue, git, integration } = await setupScope.run(async () => {
      const { taskQueue } = await shared.claimHost({ repo: spec.repo });
      const git = proxyActivities<Activities>({
        taskQueue,
        startToCloseTimeout: spec.setup.length * SETUP_COMMAND_TIMEOUT_MS + ACTIVITY_SLACK_MS,
        // Git activities heartbeat every 5 s: a worker killed mid-merge is noticed in 20 s and the
        // retry finishes its merge (test:faults measured 62 s to recovery with a 1-minute timeout).
        heartbeatTimeout: '20s',
        retry: {
          initialInterval: '2s',
          maximumInterval: '1 minute',
          maximumAttempts: 10,
          nonRetryableErrorTypes: ['BranchTaken', 'BaseMissing'],
        },
      });
      const integration = await git.prepareIntegration({
        missionId: spec.id,
        runId: ownerRunId,
        repo: spec.repo,
        baseBranch: spec.base,
        baseSha: state.baseSha,
        setup: spec.setup,
        copy: spec.copy,
        setupTimeoutMs: SETUP_COMMAND_TIMEOUT_MS,
      });
      return { hostQueue: taskQueue, git, integration };
    });
    state.hostQueue = hostQueue;
    verifier = proxyActivities<Activities>({
      taskQueue: hostQueue,
      // Each verify command may take MISSION_VERIFY_COMMAND_TIMEOUT_MS, and one activity runs them all.
      startToCloseTimeout: spec.verify.length * MISSION_VERIFY_COMMAND_TIMEOUT_MS + ACTIVITY_SLACK_MS,
      heartbeatTimeout: '1 minute',
      retry: { maximumAttempts: 2 },
    });
    state.baseSha = integration.baseSha;
    state.integrationWorktree = integration.worktree;
    state.integrationSha = integration.headSha;
    setPhase('running');

    // Versioning: histories recorded before `retry` went wave by wave and must replay that way.
    rerunsEarlierWaves = patched('retry-reruns-earlier-waves');
    let inOrder = state.currentWave;
    const nextWave = (): number =>
      rerunsEarlierWaves
        ? state.waves.findIndex((wave) => wave.taskIds.some((id) => task(id).status === 'pending'))
        : inOrder < state.waves.length
          ? inOrder
          : -1;
    for (;;) {
      // Soft pause holds the next wave; a cancel or stop ends the loop.
      await condition(() => cancelRequested || stopReason !== null || !state.paused);
      if (cancelRequested || stopReason !== null) break;
      const w = nextWave();
      if (w < 0) break;
      state.currentWave = w;
      inOrder = w + 1;
      state.waves[w].status = 'running';
      setPhase('running');
      const preWaveSha = state.integrationSha!;
      await runWave(w, hostQueue);
      if (cancelRequested || (spec.policy.onTaskFailure === 'stop-all' && stopReason !== null)) {
        state.waves[w].status = 'cancelled';
        break;
      }
      const mergedNow = await mergeWave(w, git);
      await verifyWave(w, preWaveSha, mergedNow, git);
      const ids = state.waves[w].taskIds;
      state.waves[w].status = ids.every((id) => task(id).status === 'merged')
        ? 'merged'
        : ids.every((id) => task(id).status === 'skipped')
          ? 'skipped'
          : 'failed';
      if (!state.paused) setPhase('running');
      if (workflowInfo().continueAsNewSuggested && nextWave() >= 0 && !cancelRequested && stopReason === null) {
        // A wave boundary: no child runs, so the history can start over carrying the state. The
        // next run claims the host again and reuses the integration branch and worktree, which
        // belong to the mission's first run id.
        state.currentWave = nextWave();
        await condition(allHandlersFinished);
        await continueAsNew<typeof missionWorkflow>({
          ...input,
          carried: {
            state,
            resumes,
            budgetTripped,
            retries: Object.fromEntries(retries),
            lastUsage: Object.fromEntries(lastUsage),
            rerunsEarlierWaves,
            ownerRunId,
          },
        });
      }
    }
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      // `cancel` during setup, or cancellation of the workflow itself (Web UI, `temporal workflow
      // cancel`): the children are cancelled with it; wait until they have stopped their agents.
      cancelRequested = true;
      state.reason ??= 'cancelled (workflow cancellation requested)';
      await CancellationScope.nonCancellable(() => Promise.all([...inFlight]));
    } else {
      // An activity out of retries (e.g. the base branch vanished): the mission ends as failed
      // with the reason, and its state stays queryable, instead of failing the workflow.
      stopReason ??= failureMessage(err);
    }
  }
  return finish();
}
