/**
 * Flotilla's worker: three Temporal workers in one process.
 * - the shared task queue (`FLOTILLA_TASK_QUEUE`, default `flotilla`): the workflows, and
 *   `claimHost`, which tells a mission which host holds its repository;
 * - the placement queue (`<queue>.placement`): `claimTaskHost`, through which a task of a mission
 *   with a shared origin takes this host; polled only while this worker has room for an agent
 *   (src/worker/placement.ts);
 * - the host task queue (`<queue>@<host>`): every activity that touches the repository, its
 *   worktrees or an agent. Named after the host, not the process, so a worker restarted after a
 *   crash takes over the dead one's activities (their retries after the heartbeat timeout).
 */
import { stopGitSpawner } from '../git/spawn';
import type { Duration } from '@temporalio/common';
import {
  ActivityInterceptorsFactory,
  NativeConnection,
  Worker,
  WorkerOptions,
  WorkflowBundleOption,
} from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createActivities } from '../activities';
import { AgentLoad, AgentSlots } from '../activities/agent-slots';
import { placementQueueName } from '../mission/types';
import { placementSlotSupplier } from './placement';
import { RedactingCodec, redactionInterceptor } from './redaction';

export interface FlotillaWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** The shared task queue. */
  taskQueue: string;
  /** `$FLOTILLA_HOME`. */
  home: string;
  /** Activities at once on this host (agents, git, checks). */
  concurrency?: number;
  /** Agents at once on this worker (`--agents`); default: no cap but `concurrency`. */
  agents?: number;
  /** Overrides the host part of the host queue (`FLOTILLA_HOST_ID`), e.g. for tests. */
  hostId?: string;
  /** How the workers name themselves to the service (default: the SDK's `<pid>@<host>`). */
  identity?: string;
  /**
   * How long a shutdown waits for running activities before cancelling them (ms or an `ms`
   * string; default 10 s). Cancelled agents are killed with their process group and checkpointed.
   */
  shutdownGraceTime?: Duration;
  /** After this long a shutdown gives up waiting for activities (default: never). */
  shutdownForceTime?: Duration;
  /**
   * Worker Versioning (opt-in): both workers poll as version `buildId` of the worker deployment
   * `name`, and every workflow they start is PINNED to it: it runs on that version's workers to its
   * end, never replayed on other code. Undefined: unversioned (the `patched()` discipline covers
   * upgrades).
   */
  deployment?: WorkerDeployment;
  /**
   * Interceptors for the host queue's activities (every activity but `claimHost`), e.g. the
   * metrics of `flotilla worker --metrics` (src/worker/metrics.ts). Default: none.
   */
  activityInterceptors?: ActivityInterceptorsFactory[];
  /**
   * The workflow code, already bundled (`bundleWorkflowCode` of src/workflows: the tests' cached
   * bundle, test/helpers/bundle.ts). Default: the bundle `npm run build` made, else bundled now.
   */
  workflowBundle?: WorkflowBundleOption;
}

/** A worker deployment version: the deployment's name and this build's id. */
export interface WorkerDeployment {
  name: string;
  buildId: string;
}

/** The prebuilt workflow bundle (`npm run build`). */
const BUNDLE = path.resolve(__dirname, '../workflow-bundle.js');

/**
 * The default build id: the first 12 hex digits of the SHA-256 of the prebuilt workflow bundle, so
 * two builds of the same workflow code (anywhere) share it and any change to it makes a new one.
 * Undefined when there is no prebuilt bundle (running from the TypeScript sources).
 */
export function bundleBuildId(): string | undefined {
  if (!existsSync(BUNDLE) || !__filename.endsWith('.js')) return undefined;
  return createHash('sha256').update(readFileSync(BUNDLE)).digest('hex').slice(0, 12);
}

/** The host task queue for `taskQueue` on this machine. */
export function hostQueueName(taskQueue: string, hostId = process.env.FLOTILLA_HOST_ID ?? os.hostname()): string {
  return `${taskQueue}@${hostId}`;
}

/** Workflow code: `given`, else a bundle prebuilt by `npm run build` when there is one, else bundled now. */
function workflowSource(given?: WorkflowBundleOption): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  if (given) return { workflowBundle: given };
  if (existsSync(BUNDLE) && __filename.endsWith('.js')) return { workflowBundle: { codePath: BUNDLE } };
  return { workflowsPath: require.resolve('../workflows') };
}

/**
 * A workflow-only worker on the shared task queue, for answering queries when no real worker
 * runs. It registers no activity, so it never touches a repository or starts an agent.
 */
export async function createQueryWorker(
  opts: Pick<FlotillaWorkerOptions, 'connection' | 'namespace' | 'taskQueue' | 'identity'>,
): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.identity !== undefined ? { identity: opts.identity } : {}),
    ...workflowSource(),
  });
}

export interface FlotillaWorkers {
  shared: Worker;
  host: Worker;
  /** The placement queue's worker (`claimTaskHost` only). */
  placement: Worker;
  hostQueue: string;
  /**
   * Runs both until `shutdown()` (or a shutdown signal); rejects if either fails. Then ends the git
   * spawner (src/git/spawn.ts), so its CPU counts as this process's children's.
   */
  run(): Promise<void>;
  /**
   * Drains: both workers stop polling at once, running agents are stopped and checkpointed (their
   * attempts fail with the retryable `WorkerShutdown`, so their tasks go on with the next worker
   * of this host queue), other activities get `shutdownGraceTime` to finish before the SDK
   * cancels them. Returns what was running when the drain began.
   */
  shutdown(): DrainStart;
  /** The agents running and waiting for a slot now, and the cap. */
  agentLoad(): AgentLoad;
}

/** What a drain found running when it began. */
export interface DrainStart {
  /** Agent attempts stopping (running ones checkpoint; waiting ones leave at once). */
  agents: number;
  /** Other activities of the host queue (git, checks), which get the grace time to finish. */
  others: number;
}

/** The options all three workers share: connection, heartbeat throttle, shutdown, identity, versioning. */
function commonOptions(opts: FlotillaWorkerOptions) {
  return {
    connection: opts.connection,
    namespace: opts.namespace,
    // Cancellation reaches an activity only through a heartbeat response: heartbeat often, so a
    // cancelled agent dies within ~2 s instead of 80% of its heartbeat timeout.
    maxHeartbeatThrottleInterval: '2s',
    shutdownGraceTime: opts.shutdownGraceTime ?? '10s',
    // Only when set: an explicit undefined would replace the SDK's defaults.
    ...(opts.shutdownForceTime !== undefined ? { shutdownForceTime: opts.shutdownForceTime } : {}),
    ...(opts.identity !== undefined ? { identity: opts.identity } : {}),
    ...(opts.deployment
      ? {
          // The host queue is versioned too: a pinned mission's activities go to workers of its
          // version, whose activity code matches the workflow code that scheduled them.
          workerDeploymentOptions: {
            version: { deploymentName: opts.deployment.name, buildId: opts.deployment.buildId },
            useWorkerVersioning: true,
            defaultVersioningBehavior: 'PINNED',
          },
        }
      : {}),
  } satisfies Partial<WorkerOptions>;
}

/** Creates both workers (bundling workflow code if needed, which takes a few seconds). */
export async function createWorkers(opts: FlotillaWorkerOptions): Promise<FlotillaWorkers> {
  const hostQueue = hostQueueName(opts.taskQueue, opts.hostId);
  const concurrency = opts.concurrency ?? 16;
  // Placed tasks leave 4 activity slots free for their git and gate activities (and the mission's).
  const placementCapacity = Math.max(1, Math.min(opts.agents ?? Infinity, concurrency - 4));
  const slots = new AgentSlots(opts.agents, placementCapacity);
  const activities = createActivities({ home: opts.home, hostQueue, agents: slots });
  const redactingConverter = { payloadCodecs: [new RedactingCodec()] };
  const common = commonOptions(opts);
  const shared = await Worker.create({
    ...common,
    ...workflowSource(opts.workflowBundle),
    taskQueue: opts.taskQueue,
    // A worker that dies holds its workflows' sticky queue: their next workflow task (and every
    // query, `flotilla status`) goes to the shared queue only after this. 5 s instead of the
    // SDK's 10 s, so a killed host's missions and tasks go on (and answer) sooner elsewhere.
    stickyQueueScheduleToStartTimeout: '5s',
    activities: { claimHost: activities.claimHost },
    // The redaction boundary (src/worker/redaction.ts): its interceptor here; no codec on the
    // workflows' payloads, which carry only what activities returned (redacted) and the mission.
    interceptors: { activity: [redactionInterceptor] },
  });
  const placement = await Worker.create({
    ...common,
    taskQueue: placementQueueName(opts.taskQueue),
    activities: { claimTaskHost: activities.claimTaskHost },
    // The redaction boundary: its codec (heartbeat details too) and its interceptor.
    dataConverter: redactingConverter,
    interceptors: { activity: [redactionInterceptor] },
    tuner: {
      activityTaskSlotSupplier: placementSlotSupplier(slots),
      // No workflows, local activities or Nexus here; the SDK still wants a supplier for each.
      workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
      localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
      nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
    },
  });
  const host = await Worker.create({
    ...common,
    taskQueue: hostQueue,
    activities,
    dataConverter: redactingConverter,
    maxConcurrentActivityTaskExecutions: concurrency,
    // Redaction first (outermost): the metrics interceptor sees what the activity threw as is.
    interceptors: { activity: [redactionInterceptor, ...(opts.activityInterceptors ?? [])] },
  });
  return {
    shared,
    host,
    placement,
    hostQueue,
    async run() {
      try {
        await Promise.all([shared.run(), host.run(), placement.run()]);
      } finally {
        // No activity runs git any more: its spawner ends, waited for by this process.
        await stopGitSpawner();
      }
    },
    shutdown() {
      const load = slots.load();
      const inFlight = host.getStatus().numInFlightActivities;
      // Polling stops first, so no new agent starts here while the running ones checkpoint.
      for (const w of [shared, placement, host]) if (w.getState() === 'RUNNING') w.shutdown();
      slots.drain();
      const agents = load.running + load.waiting;
      return { agents, others: Math.max(0, inFlight - agents) };
    },
    agentLoad: () => slots.load(),
  };
}
