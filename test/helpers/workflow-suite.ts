/**
 * The fast workflow suite's harness: the real `missionWorkflow` and `taskWorkflow` on a real dev
 * server, with every activity a typed `jest.fn` fake (test/helpers/fake-activities.ts).
 *
 * `workflowSuite()` registers the file's hooks: one dev server and one workflow bundle per test
 * file (bundled once, in parallel with the server's start), and one pair of workers as Flotilla
 * runs them: the shared task queue (workflows and `claimHost`) and the host queue `claimHost`
 * names (every other activity). An activity that reaches the shared queue fails at once, so a
 * routing mistake in the workflow shows as a failure, not a hang. The workers' activities answer
 * with the fakes of the mission in flight (one per test; a test's leftover run is terminated).
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Activities } from '../../src/activities';
import type { MissionProgress } from '../../src/mission/progress';
import type { MissionSpec, TaskSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import { progressQuery } from '../../src/workflows/messages';
import type { MissionInput, MissionResult, missionWorkflow } from '../../src/workflows/mission';
import { workflowBundle } from './bundle';
import { missionResult } from './outcome';
import { ACTIVITY_NAMES, FAKE, FakeActivities } from './fake-activities';
import { mission, task } from './missions';
import { startDevServer } from './temporal';

/** Which activity ran on which task queue, in the order they started. */
export interface ActivityRun {
  activity: keyof Activities;
  taskQueue: string;
  workflowId: string;
}

export interface RunningMission {
  handle: WorkflowHandle<typeof missionWorkflow>;
  fakes: FakeActivities;
  /** The shared task queue of this mission's workers. */
  taskQueue: string;
  runs: ActivityRun[];
  progress(): Promise<MissionProgress>;
  /** Polls the progress query until `pred` holds. */
  waitFor(pred: (p: MissionProgress) => boolean, what: string, timeoutMs?: number): Promise<MissionProgress>;
  /**
   * Waits for the mission's final progress however its workflow ended (Completed, Failed with
   * `MissionFailed`, Canceled), failing after `timeoutMs` instead of hanging the test.
   */
  result(timeoutMs?: number): Promise<MissionResult>;
  /** How the workflow's latest run closed (`COMPLETED`, `FAILED`, `CANCELLED`…), or `RUNNING`. */
  status(): Promise<string>;
}

export interface WorkflowSuite {
  env(): TestWorkflowEnvironment;
  /** Starts workers with `fakes` and the mission; `input` adds to `{ spec }` (e.g. `carried`). */
  start(spec: MissionSpec, fakes: FakeActivities, input?: Partial<MissionInput>): Promise<RunningMission>;
  /**
   * Follows a mission workflow something else started on this suite's task queue (e.g. the
   * client reopening an ended mission), its activities answered by `fakes`.
   */
  follow(missionId: string, fakes: FakeActivities): RunningMission;
  /** The shared task queue the suite's workers poll. */
  taskQueue: string;
  /** Starts the mission and waits for its result. */
  run(spec: MissionSpec, fakes: FakeActivities): Promise<MissionResult & { mission: RunningMission }>;
}

/** Registers the file's hooks (dev server, bundle, workers, cleanup) and returns the harness. */
export function workflowSuite(opts: { serverArgs?: string[] } = {}): WorkflowSuite {
  let env: TestWorkflowEnvironment | undefined;
  let workers: Worker[] = [];
  let running: Promise<unknown> | undefined;
  const taskQueue = `wft-${process.pid}`;
  /** The mission in flight: its fakes answer the workers' activities, its log records them. */
  let current: { fakes: FakeActivities; runs: ActivityRun[]; stop(): Promise<void> } | undefined;

  /** Activities that delegate to the current mission's fakes; on the shared queue, only `only`. */
  const delegates = (queue: string, only?: keyof Activities) =>
    Object.fromEntries(
      ACTIVITY_NAMES.map((name) => [
        name,
        async (...args: unknown[]) => {
          const info = Context.current().info;
          if (!current) throw ApplicationFailure.nonRetryable(`${name} ran with no mission in flight`, 'NoMission');
          current.runs.push({ activity: name, taskQueue: queue, workflowId: info.workflowExecution?.workflowId ?? '' });
          if (only && name !== only)
            throw ApplicationFailure.nonRetryable(`${name} ran on the shared task queue ${queue}`, 'MisroutedActivity');
          return (current.fakes[name] as unknown as (...a: unknown[]) => Promise<unknown>)(...args);
        },
      ]),
    );

  beforeAll(async () => {
    const started = Date.now();
    let bundle: WorkflowBundleWithSourceMap;
    [env, bundle] = await Promise.all([startDevServer(undefined, opts.serverArgs ?? []), workflowBundle()]);
    const common = {
      connection: env.nativeConnection,
      // Cancellation reaches an activity with a heartbeat's response: let it through at once.
      maxHeartbeatThrottleInterval: '100ms',
      defaultHeartbeatThrottleInterval: '100ms',
    } as const;
    workers = await Promise.all([
      Worker.create({ ...common, taskQueue, workflowBundle: bundle, activities: delegates(taskQueue, 'claimHost') }),
      Worker.create({ ...common, taskQueue: FAKE.hostQueue, activities: delegates(FAKE.hostQueue) }),
    ]);
    running = Promise.all(workers.map((w) => w.run()));
    if (process.env.FLOTILLA_TEST_LOG) console.log(`workflow suite ready in ${Date.now() - started} ms`);
  }, 180_000);
  afterEach(async () => {
    // A test that failed midway leaves its mission running: terminate it.
    await current?.stop();
    current = undefined;
  }, 30_000);
  afterAll(async () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await running;
    await env?.teardown();
  }, 30_000);

  const track = (missionId: string, fakes: FakeActivities): RunningMission => {
    const handle = env!.client.workflow.getHandle<typeof missionWorkflow>(names.missionWorkflowId(missionId));
    const runs: ActivityRun[] = [];
    // A mission of this test that has ended leaves its fakes; the new one takes over the workers.
    current = {
      fakes,
      runs,
      stop: () =>
        handle.terminate('test over').then(
          () => undefined,
          () => undefined,
        ),
    };
    const progress = () => handle.query(progressQuery);
    return {
      handle,
      fakes,
      taskQueue,
      runs,
      progress,
      async waitFor(pred, what, timeoutMs = 15_000) {
        const deadline = Date.now() + timeoutMs;
        let last: MissionProgress | undefined;
        for (;;) {
          last = await progress();
          if (pred(last)) return last;
          if (Date.now() > deadline)
            throw new Error(`timed out waiting for ${what}; last progress: ${JSON.stringify(last, null, 2)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      status: async () => (await handle.describe()).status.name,
      async result(timeoutMs = 30_000) {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`mission ${missionId} did not end within ${timeoutMs} ms`)),
            timeoutMs,
          );
        });
        try {
          return await Promise.race([missionResult(handle), late]);
        } finally {
          clearTimeout(timer);
        }
      },
    };
  };

  const start = async (
    spec: MissionSpec,
    fakes: FakeActivities,
    input: Partial<MissionInput> = {},
  ): Promise<RunningMission> => {
    // One mission at a time: the workers answer with the fakes of the latest one.
    await env!.client.workflow.start<typeof missionWorkflow>('missionWorkflow', {
      workflowId: names.missionWorkflowId(spec.id),
      taskQueue,
      args: [{ spec, ...input }],
    });
    return track(spec.id, fakes);
  };

  return {
    env: () => env!,
    start,
    follow: track,
    taskQueue,
    async run(spec, fakes) {
      const m = await start(spec, fakes);
      return { ...(await m.result()), mission: m };
    },
  };
}

/** A task for fake activities (its agent never runs a process). */
export function fakeTask(id: string, dependsOn: string[] = [], opts: Partial<TaskSpec> = {}): TaskSpec {
  return task(id, `exit 1 # fake: ${id} never runs a process`, { dependsOn, ...opts });
}

/** A mission spec for fake activities: a fake repo path, concurrency 2, policies `opts` sets. */
export function fakeMission(id: string, tasks: TaskSpec[], opts: Partial<MissionSpec> = {}): MissionSpec {
  return mission(id, `/fake/repo/${id}`, tasks, opts);
}

/** The task of a mission result, by id (fails the test when there is none). */
export function taskOf(p: MissionProgress, id: string): MissionProgress['tasks'][number] {
  const t = p.tasks.find((x) => x.id === id);
  if (!t) throw new Error(`no task ${id} in ${p.tasks.map((x) => x.id).join(', ')}`);
  return t;
}
