/**
 * Typed `jest.fn` fakes of every Flotilla activity, for running the real workflows on a dev server
 * without git or agents. Each default answers with the shape the real activity returns (see
 * src/activities/*.ts), derived from its input, so the workflow's data flow can be asserted: SHAs
 * are stable hashes of what produced them, paths name the mission and task.
 *
 * A test overrides what its story needs (`fakeActivities({ runAgent: ... })`) or changes a fake
 * later (`fakes.queueMerge.mockImplementationOnce(...)`), and asserts on `fakes.X.mock.calls`.
 * The object's type requires a fake for every activity: a new activity breaks this file's
 * compilation until it gets a default.
 */
import { CancelledFailure, Context } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import type { Activities } from '../../src/activities';
import type { QueueMergeBatchInput, QueueMergeBatchResult, RemoveTaskWorktreesInput } from '../../src/activities';
import type { AgentFailureDetails, AgentUsage, RunAgentInput, RunAgentResult } from '../../src/activities/agent';
import { names } from '../../src/mission/types';

type Fn = (...args: never[]) => unknown;
/** A `jest.Mock` with the activity's own signature. */
export type FakeOf<F extends Fn> = jest.Mock<ReturnType<F>, Parameters<F>>;
export type FakeActivities = { [K in keyof Activities]: FakeOf<Activities[K]> };

/** A 40-hex SHA that depends only on `parts` (so a test can compute the one it expects). */
export function fakeSha(...parts: string[]): string {
  return createHash('sha1').update(parts.join('\0')).digest('hex');
}

/** The fakes' fixed answers, exported so tests compute expectations from them, not from literals. */
export const FAKE = {
  hostname: 'fake-host',
  /** The host task queue `claimHost` names (the suite's host worker polls it). */
  hostQueue: 'flotilla-test@fake-host',
  baseSha: fakeSha('base'),
  /** Per agent run: one turn, this cost and these tokens. */
  costUsd: 0.01,
  inputTokens: 100,
  outputTokens: 10,
  integrationWorktree: (missionId: string) => `/fake/${missionId}/integration`,
  taskWorktree: (missionId: string, taskId: string) => `/fake/${missionId}/tasks/${taskId}`,
  sessionId: (taskId: string) => `session-${taskId}`,
  /** The commit `checkpoint` reports for a task branch (one per task; tests may vary it). */
  headSha: (branch: string) => fakeSha('head', branch),
  /** The merge commit `queueMerge` (and `commitResolution`) makes for a branch merged onto `onto`. */
  queueSha: (onto: string, branch: string) => fakeSha('queue', onto, branch),
  diffstat: { files: 1, insertions: 2, deletions: 0 },
};

/** Usage of one default agent run, as the real activity reports it (session totals included). */
export function agentUsage(input: RunAgentInput, extra: Partial<AgentUsage> = {}): AgentUsage {
  const sessionId = input.resumeSessionId ?? FAKE.sessionId(input.taskId);
  return {
    sessionId,
    sessionCostUsd: (input.sessionCostUsd ?? 0) + FAKE.costUsd,
    sessionInputTokens: (input.sessionInputTokens ?? 0) + FAKE.inputTokens,
    sessionOutputTokens: (input.sessionOutputTokens ?? 0) + FAKE.outputTokens,
    turns: 1,
    costUsd: FAKE.costUsd,
    inputTokens: FAKE.inputTokens,
    outputTokens: FAKE.outputTokens,
    ...extra,
  };
}

/** What the default `runAgent` returns for `input`. */
export function agentResult(input: RunAgentInput, extra: Partial<RunAgentResult> = {}): RunAgentResult {
  const attempt = activityAttempt();
  return {
    ...agentUsage(input),
    attempt,
    exitCode: 0,
    durationMs: 1,
    transcript: `/fake/transcripts/${input.missionId}/${input.taskId}-${input.iteration}-${attempt}.jsonl`,
    summary: `${input.taskId} done`,
    events: 1,
    lastEventAt: new Date().toISOString(),
    resumed: !!input.resumeSessionId,
    checkpointSha: null,
    ...extra,
  };
}

/** The failure details the real `runAgent` attaches to its failures and cancellations. */
export function agentFailureDetails(
  input: RunAgentInput,
  extra: Partial<AgentFailureDetails> = {},
): AgentFailureDetails {
  return { ...agentUsage(input), attempt: activityAttempt(), checkpointSha: null, ...extra };
}

function activityAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1; // called outside an activity (a unit test of a fake)
  }
}

/** A promise a test settles from outside. */
export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Inside a fake activity: heartbeats (so a cancellation reaches it) until `until` settles, and
 * rejects with the activity's CancelledFailure when the workflow cancels it first.
 */
export async function heartbeatUntil<T>(until: Promise<T>, everyMs = 100): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), everyMs);
  try {
    return await Promise.race([until, ctx.cancelled]);
  } finally {
    clearInterval(timer);
  }
}

/**
 * A `runAgent` fake that blocks until `release` settles (then returns the default result) and,
 * when cancelled meanwhile (pause --now, steer, skip, stop-all), stops the way the real one does:
 * a CancelledFailure carrying the attempt's usage. `onCancel` observes the cancellation.
 */
export function blockingAgent(release: Promise<unknown>, onCancel?: (input: RunAgentInput) => void) {
  return async (input: RunAgentInput): Promise<RunAgentResult> => {
    try {
      await heartbeatUntil(release);
    } catch (err) {
      if (err instanceof CancelledFailure) {
        onCancel?.(input);
        throw new CancelledFailure('agent cancelled; its process group was killed', [agentFailureDetails(input)]);
      }
      throw err;
    }
    return agentResult(input);
  };
}

/**
 * Working defaults for every activity, in the real ones' shapes. Like the real repository, they
 * remember each repository's integration head: publishing moves it, and a later
 * `prepareIntegration` (after continue-as-new or a reopen) finds it where it was left.
 */
function defaultActivities(hostQueue: string): Activities {
  const heads = new Map<string, string>();
  return {
    async claimHost(input) {
      // With an origin the real one answers with its clone; the fakes keep the path as given.
      return { taskQueue: hostQueue, hostname: FAKE.hostname, repo: input.repo };
    },
    async releaseNamespace() {},
    async notify() {},
    async claimTaskHost(input) {
      return {
        taskQueue: hostQueue,
        host: FAKE.hostname,
        repo: `/fake/clones/${input.missionId}`,
        load: { agents: 0, capacity: null },
      };
    },
    async prepareIntegration(input) {
      // The base SHA is recorded once: a later run (continue-as-new, reopen) passes it back.
      const baseSha = input.baseSha ?? FAKE.baseSha;
      if (!heads.has(input.repo)) heads.set(input.repo, baseSha);
      return {
        worktree: FAKE.integrationWorktree(input.missionId),
        branch: names.integrationBranch(input.missionId),
        baseSha,
        headSha: heads.get(input.repo)!,
      };
    },
    async prepareWorktree(input) {
      return {
        worktree: FAKE.taskWorktree(input.missionId, input.taskId),
        branch: names.taskBranch(input.missionId, input.taskId),
        created: true,
        restoredCheckpoint: null,
      };
    },
    async runAgent(input) {
      return agentResult(input);
    },
    async checkpoint(input) {
      return { headSha: FAKE.headSha(input.branch), committed: true, diffstat: FAKE.diffstat };
    },
    async snapshot(input) {
      return {
        ref: names.checkpointRef(input.missionId, input.taskId),
        sha: fakeSha('snapshot', input.taskId, input.note),
        changed: true,
        worktreeGone: false,
      };
    },
    async runChecks() {
      return { ok: true, failed: null };
    },
    async syncTaskBranch(input) {
      return { headSha: input.sha };
    },
    async queueMerge(input) {
      return { status: 'merged', sha: FAKE.queueSha(input.onto, input.branch), alreadyMerged: false };
    },
    async queueMergeBatch(input) {
      return mergeEachVia(this.queueMerge, this.publishRef, input);
    },
    async publishRef(input) {
      // The integration branch, as `prepareIntegration` of a later run will find it.
      if (input.ref.endsWith('/integration')) heads.set(input.repo, input.sha);
    },
    async verifyAt() {
      return { ok: true, failed: null };
    },
    async removeTaskWorktree() {
      return { removed: true, kept: null };
    },
    async removeTaskWorktrees(input) {
      return Promise.all(input.tasks.map((t) => this.removeTaskWorktree(t)));
    },
    async predictConflicts() {
      return { conflicts: [], waitFor: {} };
    },
    async prepareConflict(input) {
      return {
        worktree: `${FAKE.taskWorktree(input.missionId, input.taskId)}.conflict`,
        conflicted: ['conflicted.txt'],
        remaining: ['conflicted.txt'],
        mergeBase: FAKE.baseSha,
        branchTip: FAKE.headSha(input.branch),
        otherTasks: [],
        oursDiff: '',
        theirsDiff: '',
        mergedLog: '',
      };
    },
    async checkResolution() {
      return { ok: true, problems: [] };
    },
    async commitResolution(input) {
      return { sha: FAKE.queueSha(input.onto, `resolved:${input.taskId}`) };
    },
    async dropConflict() {},
    async landMission(input) {
      // The base had not moved: the integration head lands as it is.
      return {
        status: 'landed',
        landed: input.integrationSha,
        mode: input.mode,
        base: input.baseBranch,
        baseBefore: input.baseSha,
        baseMerged: false,
        verified: false,
        alreadyLanded: false,
        checkout: null,
        remote: input.mode === 'ff' ? null : (input.remote ?? 'origin'),
        pushed: input.mode === 'push' ? [input.baseBranch] : input.mode === 'pr' ? [input.integrationBranch] : [],
        pr: null,
        tasks: input.tasks.map((t) => t.id),
      };
    },
    // `flotilla plan` (src/activities/plan.ts): a plan workflow's; the mission's never call them.
    async preparePlan(input) {
      const dir = `/fake/${input.planId}`;
      return {
        worktree: `${dir}/base`,
        baseSha: FAKE.baseSha,
        planFile: `${dir}/plan.yaml`,
        missionFile: `${dir}/mission.yaml`,
      };
    },
    async checkPlan() {
      return { yaml: null, problems: ['(file): no plan was written'] };
    },
    async removePlanWorktree() {},
  };
}

/**
 * `queueMergeBatch` as the real one answers, made of one `queueMerge` per task (each onto the one
 * before, the candidate ref expected where the one before left it), up to the first conflict.
 */
async function mergeEachVia(
  queueMerge: Activities['queueMerge'],
  publishRef: Activities['publishRef'],
  input: QueueMergeBatchInput,
): Promise<QueueMergeBatchResult> {
  const merged: QueueMergeBatchResult['merged'] = [];
  let onto = input.onto;
  let expected = input.expected;
  let conflict: QueueMergeBatchResult['conflict'] = null;
  for (const t of input.tasks) {
    const r = await queueMerge({ ...input, ...t, onto, expected });
    if (r.status === 'conflict') {
      conflict = { taskId: t.taskId, ...r };
      break;
    }
    merged.push({ taskId: t.taskId, sha: r.sha, alreadyMerged: r.alreadyMerged, tip: r.tip ?? '' });
    onto = expected = r.sha;
  }
  // With `publish` the integration branch moves too: through the `publishRef` fake, as the real one does its work.
  if (!input.publish || merged.length === 0) return { merged, conflict };
  const last = merged[merged.length - 1].sha;
  if (last !== input.publish.expected)
    await publishRef({ repo: input.repo, ref: input.publish.ref, sha: last, expected: input.publish.expected });
  return { merged, conflict, published: last };
}

/** The name of every activity a worker registers. */
export const ACTIVITY_NAMES = Object.keys(defaultActivities(FAKE.hostQueue)) as Array<keyof Activities>;

/**
 * Every activity as a typed `jest.fn` with a working default; `overrides` replace defaults.
 * `claimHost` names `hostQueue`, where the mission sends every git, agent and check activity.
 */
export function fakeActivities(
  overrides: Partial<Activities> = {},
  { hostQueue = FAKE.hostQueue }: { hostQueue?: string } = {},
): FakeActivities {
  const defaults = defaultActivities(hostQueue);
  const fakes = {} as Record<string, jest.Mock>;
  for (const name of ACTIVITY_NAMES) fakes[name] = jest.fn((overrides[name] ?? defaults[name]) as Fn);
  // A batch merges each task through the `queueMerge` fake, so a test's story for it holds for batches.
  if (!overrides.queueMergeBatch)
    fakes.queueMergeBatch = jest.fn((input: QueueMergeBatchInput) =>
      mergeEachVia(
        fakes.queueMerge as unknown as Activities['queueMerge'],
        fakes.publishRef as unknown as Activities['publishRef'],
        input,
      ),
    );
  // A batch's removals go through the `removeTaskWorktree` fake, one per task, as the real one does its work.
  if (!overrides.removeTaskWorktrees)
    fakes.removeTaskWorktrees = jest.fn(async (input: RemoveTaskWorktreesInput) => {
      const results = [];
      for (const t of input.tasks) results.push(await (fakes.removeTaskWorktree as jest.Mock)(t));
      return results;
    });
  return fakes as unknown as FakeActivities;
}

/** The inputs of every call of `fake` (the first argument of each). */
export function inputsOf<F extends Fn>(fake: FakeOf<F>): Parameters<F>[0][] {
  return fake.mock.calls.map((c) => c[0]);
}

/** The inputs of the calls of a task-scoped fake for `taskId`. */
export function callsFor<I extends { taskId: string }>(fake: jest.Mock<unknown, [I]>, taskId: string): I[] {
  return fake.mock.calls.map((c) => c[0]).filter((i) => i.taskId === taskId);
}

/** Polls until `pred` holds (e.g. a fake was called), failing with `what` after `timeoutMs`. */
export async function eventually(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
