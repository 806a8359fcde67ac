/**
 * The fast workflow suite's harness: the real `missionWorkflow` and `taskWorkflow` on a real dev
 * server, with every activity a typed `jest.fn` fake (test/helpers/fake-activities.ts).
 *
 * `workflowSuite()` registers the file's hooks: one dev server and one workflow bundle per test
 * file (bundled once, in parallel with the server's start), and per mission a fresh pair of
 * workers, as Flotilla runs them: the shared task queue (workflows and `claimHost`) and the host
 * queue `claimHost` names (every other activity). An activity that reaches the shared queue fails
 * at once, so a routing mistake in the workflow shows as a failure, not a hang.
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
import { FAKE, FakeActivities } from './fake-activities';
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
  /** Waits for the mission's result, then stops its workers. */
  result(): Promise<MissionResult>;
}

export interface WorkflowSuite {
  env(): TestWorkflowEnvironment;
  /** Starts workers with `fakes` and the mission; `input` adds to `{ spec }` (e.g. `carried`). */
  start(spec: MissionSpec, fakes: FakeActivities, input?: Partial<MissionInput>): Promise<RunningMission>;
  /** Starts the mission and waits for its result. */
  run(spec: MissionSpec, fakes: FakeActivities): Promise<MissionResult & { mission: RunningMission }>;
}

let queues = 0;

/** Registers the file's hooks (dev server, bundle, worker cleanup) and returns the harness. */
export function workflowSuite(opts: { serverArgs?: string[] } = {}): WorkflowSuite {
  let env: TestWorkflowEnvironment | undefined;
  let bundle: WorkflowBundleWithSourceMap;
  const live: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    [env, bundle] = await Promise.all([startDevServer(undefined, opts.serverArgs ?? []), workflowBundle()]);
  }, 180_000);
  afterEach(async () => {
    // A test that failed midway leaves its mission running: terminate it and stop its workers.
    await Promise.all(live.splice(0).map((stop) => stop()));
  }, 30_000);
  afterAll(async () => {
    await env?.teardown();
  }, 30_000);

  const start = async (
    spec: MissionSpec,
    fakes: FakeActivities,
    input: Partial<MissionInput> = {},
  ): Promise<RunningMission> => {
    const e = env!;
    const taskQueue = `wft-${process.pid}-${++queues}`;
    const runs: ActivityRun[] = [];
    const on = (queue: string, only?: keyof Activities) =>
      Object.fromEntries(
        (Object.keys(fakes) as Array<keyof Activities>).map((name) => [
          name,
          async (...args: unknown[]) => {
            const info = Context.current().info;
            runs.push({ activity: name, taskQueue: queue, workflowId: info.workflowExecution?.workflowId ?? '' });
            if (only && name !== only)
              throw ApplicationFailure.nonRetryable(
                `${name} ran on the shared task queue ${queue}`,
                'MisroutedActivity',
              );
            return (fakes[name] as unknown as (...a: unknown[]) => Promise<unknown>)(...args);
          },
        ]),
      );
    const common = {
      connection: e.nativeConnection,
      // Cancellation reaches an activity with a heartbeat's response: let it through at once.
      maxHeartbeatThrottleInterval: '100ms',
      defaultHeartbeatThrottleInterval: '100ms',
    } as const;
    const shared = await Worker.create({
      ...common,
      taskQueue,
      workflowBundle: bundle,
      activities: on(taskQueue, 'claimHost'),
    });
    const host = await Worker.create({ ...common, taskQueue: FAKE.hostQueue, activities: on(FAKE.hostQueue) });
    const running = Promise.all([shared.run(), host.run()]);
    const handle = await e.client.workflow.start<typeof missionWorkflow>('missionWorkflow', {
      workflowId: names.missionWorkflowId(spec.id),
      taskQueue,
      args: [{ spec, ...input }],
    });
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopped ??= (async () => {
        await handle.terminate('test over').catch(() => undefined);
        for (const w of [shared, host]) if (w.getState() === 'RUNNING') w.shutdown();
        await running;
      })());
    live.push(stop);
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
      async result() {
        try {
          return await handle.result();
        } finally {
          await stop();
        }
      },
    };
  };

  return {
    env: () => env!,
    start,
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
