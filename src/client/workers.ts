/**
 * Workers the CLI runs itself: the standalone `flotilla worker`, the in-process worker of
 * `run`/`watch` when no standalone one polls, and a short-lived workflow-only worker that answers
 * a query or an update when no worker runs at all.
 */
import { Connection } from '@temporalio/client';
import { ActivityInterceptorsFactory, DefaultLogger, LogEntry, NativeConnection, Runtime } from '@temporalio/worker';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { privateFile, secretRedactor } from '../secrets/secrets';
import { createQueryWorker, createWorkers, FlotillaWorkers, WorkerDeployment } from '../worker';
import { unreachable } from './commands/context';
import { FlotillaConfig } from './config';
import { workerIdentity, workerPolling } from './visibility';

let runtimeInstalled = false;

/**
 * Installs the SDK's runtime once per process (later calls do nothing). Its log goes to stderr,
 * or with `inProcess` to `$FLOTILLA_HOME/worker.log` (mode 0600; the terminal shows progress
 * instead), every secret's value redacted. `inProcess` also leaves
 * SIGINT/SIGTERM to the command, which says what happens to the mission before its worker stops.
 * `prometheus`: the address (`host:port`) the SDK's Prometheus exporter binds, serving the
 * runtime's metrics at `/metrics` (`flotilla worker --metrics`, see src/worker/metrics-server.ts).
 * @throws the SDK's error when its exporter cannot bind `prometheus` (nothing is installed then)
 */
export function installRuntime(
  config: FlotillaConfig,
  inProcess: boolean,
  opts: { prometheus?: string; ownSignals?: boolean } = {},
): void {
  if (runtimeInstalled) return;
  const telemetryOptions = opts.prometheus
    ? { telemetryOptions: { metrics: { prometheus: { bindAddress: opts.prometheus } } } }
    : {};
  if (!inProcess) {
    Runtime.install({
      logger: new DefaultLogger('INFO', (entry) => process.stderr.write(logLine(entry))),
      // `flotilla worker` drains on SIGTERM/SIGINT itself and says what it does.
      ...(opts.ownSignals ? { shutdownSignals: [] } : {}),
      ...telemetryOptions,
    });
    runtimeInstalled = true;
    return;
  }
  const file = privateFile(path.join(config.home, 'worker.log'));
  Runtime.install({
    shutdownSignals: [],
    logger: new DefaultLogger('INFO', (entry) => appendFileSync(file, logLine(entry))),
    ...telemetryOptions,
  });
  runtimeInstalled = true;
}

/** One line of the worker's log, every secret's value redacted (src/secrets/secrets.ts). */
function logLine(entry: LogEntry): string {
  const at = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta = entry.meta ? ` ${inspect(entry.meta, { depth: 6, breakLength: Infinity })}` : '';
  return `${secretRedactor().text(`${at} [${entry.level}] ${entry.message}${meta}`)}\n`;
}

/** Workers running in this process; `stop()` shuts them down and closes their connection. */
export interface RunningWorkers {
  workers: FlotillaWorkers;
  /** Settles when both workers stopped; rejects when one failed. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * How long the in-process worker of `run`/`watch` lets running agents go on after it was asked
 * to stop, ms. Short: the command is leaving (Ctrl-C, or its mission ended while agents of another
 * mission ran here); the agents are killed with their process group and checkpointed by the
 * activity's cancellation path, and their tasks resume on the next worker.
 */
export const IN_PROCESS_SHUTDOWN_GRACE_MS = 500;
/** After this long a leaving in-process worker stops waiting for its activities, ms. */
export const IN_PROCESS_SHUTDOWN_FORCE_MS = 15_000;

/**
 * A worker's connection to the Temporal service of `config`.
 * @throws CliError exit 1 saying how to start one when none answers (see {@link unreachable})
 */
async function connectWorker(config: FlotillaConfig): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({ ...config.connection });
  } catch (err) {
    throw unreachable(config, err);
  }
}

/**
 * Starts both Flotilla workers (shared and host queue) in this process.
 * @param inProcess the worker of a `run`/`watch`: marked as such to other commands (see
 *   `workerPolling`), and quick to leave
 * @param activityInterceptors for the host queue's activities (e.g. `FlotillaMetrics.activityInterceptor`)
 * @param agents agents at once (`flotilla worker --agents`)
 * @param deployment Worker Versioning: the version both workers poll as (missions they start are pinned to it)
 * @param drainTimeoutMs how long a drain lets git and check activities finish before they are
 *   cancelled (agents stop at once); the process stops waiting 15 s after that
 */
export async function startWorkers(
  config: FlotillaConfig,
  opts: {
    concurrency?: number;
    agents?: number;
    deployment?: WorkerDeployment;
    drainTimeoutMs?: number;
    identity?: string;
    inProcess?: boolean;
    activityInterceptors?: ActivityInterceptorsFactory[];
  } = {},
): Promise<RunningWorkers> {
  const connection = await connectWorker(config);
  try {
    const workers = await createWorkers({
      connection,
      namespace: config.namespace,
      taskQueue: config.taskQueue,
      home: config.home,
      concurrency: opts.concurrency,
      agents: opts.agents,
      deployment: opts.deployment,
      activityInterceptors: opts.activityInterceptors,
      ...(opts.identity !== undefined ? { identity: opts.identity } : {}),
      ...(opts.drainTimeoutMs !== undefined
        ? { shutdownGraceTime: opts.drainTimeoutMs, shutdownForceTime: opts.drainTimeoutMs + 15_000 }
        : {}),
      ...(opts.inProcess
        ? {
            identity: workerIdentity('in-process'),
            shutdownGraceTime: IN_PROCESS_SHUTDOWN_GRACE_MS,
            shutdownForceTime: IN_PROCESS_SHUTDOWN_FORCE_MS,
          }
        : {}),
    });
    const done = workers.run();
    // Observed by `stop()` and by the follower; never an unhandled rejection.
    done.catch(() => undefined);
    let stopping: Promise<void> | undefined;
    return {
      workers,
      done,
      stop: () =>
        (stopping ??= (async () => {
          workers.shutdown();
          await done.catch(() => undefined);
          await connection.close();
        })()),
    };
  } catch (err) {
    await connection.close();
    throw err;
  }
}

/**
 * Runs `fn` (a query or an update) with a worker to answer it: the workers already polling, or,
 * when none does, a short-lived workflow-only worker in this process. It runs no activity, so it
 * cannot touch a repository; what the answer starts (a retried task) waits for a real worker.
 * Queries on a closed workflow need it too: the worker replays the history to answer.
 */
export async function withWorkflowWorker<T>(
  connection: Connection,
  config: FlotillaConfig,
  fn: () => Promise<T>,
): Promise<T> {
  if (await workerPolling(connection, config.namespace, config.taskQueue)) return fn();
  installRuntime(config, true);
  const native = await connectWorker(config);
  try {
    const worker = await createQueryWorker({
      connection: native,
      namespace: config.namespace,
      taskQueue: config.taskQueue,
      identity: workerIdentity('query'),
    });
    return await worker.runUntil(fn());
  } finally {
    await native.close();
  }
}
