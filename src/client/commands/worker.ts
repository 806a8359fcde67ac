/**
 * `flotilla worker [--concurrency N] [--agents N] [--drain-timeout D] [--metrics HOST:PORT]`: a
 * standalone worker for the shared queue and this host, optionally serving Prometheus metrics.
 * SIGTERM or SIGINT drains it (see {@link FlotillaWorkers.shutdown}) and it exits 0.
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { formatDuration, parseDuration } from '../../mission/duration';
import { FlotillaWorkers, hostQueueName } from '../../worker';
import { ListenAddress, parseListenAddress } from '../../worker/metrics-address';
import type { MetricsServer } from '../../worker/metrics-server';
import { FlotillaConfig, loadConfig } from '../config';
import { CliError, EXIT } from '../errors';
import { installRuntime, startWorkers } from '../workers';
import { standaloneIdentity } from '../visibility';
import { deploymentFromFlags, setCurrentVersion } from '../deployment';
import { warn, withConnection } from './context';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}

/** How long a drain lets git and check activities finish by default, ms. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('must be a duration such as 30s, 2m or 500ms');
  return ms;
}

/**
 * Drains `workers` on the first SIGTERM/SIGINT, saying what it stops; a second signal only says
 * how long the drain may still take (SIGKILL stops at once; the next worker kills what is left).
 */
function drainOnSignals(workers: FlotillaWorkers, drainTimeoutMs: number): () => void {
  let since = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (since) {
      const left = Math.max(0, drainTimeoutMs + 15_000 - (Date.now() - since));
      warn(`flotilla worker: ${signal}: still draining (at most ${formatDuration(left)} more; SIGKILL stops at once)`);
      return;
    }
    since = Date.now();
    const { agents, others } = workers.shutdown();
    const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
    warn(
      `flotilla worker: ${signal}: draining: ${plural(agents, 'agent', 'agents')} checkpointing (their tasks go on with the next worker of ${workers.hostQueue}, or on another host when their mission has an origin), ` +
        `${plural(others, 'other activity', 'other activities')} finishing (up to ${formatDuration(drainTimeoutMs)}), no new work`,
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

function listenAddress(value: string): ListenAddress {
  try {
    return parseListenAddress(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** What `--metrics` set up: the endpoint and the interceptor that records Flotilla's metrics. */
interface WorkerMetrics {
  server: MetricsServer;
  interceptors: ActivityInterceptorsFactory[];
}

/**
 * Binds the metrics endpoint on `listen` first (a bad address fails before anything starts), then
 * installs the SDK's runtime with its Prometheus exporter on a loopback port the endpoint reads.
 * prom-client is loaded only here, so a worker without `--metrics` never loads it.
 * @throws CliError (exit 1) when the endpoint or the SDK's exporter cannot bind
 */
async function startMetrics(config: FlotillaConfig, listen: ListenAddress): Promise<WorkerMetrics> {
  const { FlotillaMetrics } = await import('../../worker/metrics');
  const { installWithLoopbackExporter, MetricsListenError, startMetricsServer } =
    await import('../../worker/metrics-server');
  const metrics = new FlotillaMetrics({
    onError: (err) => warn(`flotilla worker: a metric could not be recorded (metrics only; work goes on): ${err}`),
  });
  let server: MetricsServer;
  try {
    server = await startMetricsServer(listen, metrics);
  } catch (err) {
    if (err instanceof MetricsListenError) throw new CliError(`--metrics: ${err.message}`, EXIT.failed);
    throw err;
  }
  try {
    server.sdkAddress = await installWithLoopbackExporter((prometheus) =>
      installRuntime(config, false, { prometheus }),
    );
  } catch (err) {
    await server.close();
    throw new CliError(`--metrics: the Temporal SDK's metrics exporter did not start: ${(err as Error).message}`);
  }
  return { server, interceptors: [metrics.activityInterceptor] };
}

interface WorkerFlags {
  concurrency?: number;
  agents?: number;
  drainTimeout?: number;
  deployment?: string;
  buildId?: string;
  setCurrent?: boolean;
  metrics?: ListenAddress;
}

/** Adds `flotilla worker` to the program. */
export function register(program: Command): void {
  program
    .command('worker')
    .description('run a worker for the shared task queue and this host')
    .option('--concurrency <n>', 'activities at once on this host (agents, git, checks; default 16)', positiveInt)
    .option('--agents <n>', 'agents at once on this worker (default: no cap but --concurrency)', positiveInt)
    .option(
      '--drain-timeout <duration>',
      'on SIGTERM or Ctrl-C, the time left to git and check activities; agents checkpoint and stop right away (default 30s)',
      duration,
    )
    .option(
      '--deployment <name>',
      'Worker Versioning: poll as a version of this worker deployment; missions are pinned to it',
    )
    .option('--build-id <id>', 'the version (default: a hash of the workflow bundle)')
    .option('--set-current', "make this version the deployment's current one once it polls (new missions start on it)")
    .option(
      '--metrics <host:port>',
      "serve Prometheus metrics (Flotilla's and the Temporal SDK's) at http://HOST:PORT/metrics",
      listenAddress,
    )
    .action(async (opts: WorkerFlags) => {
      const config = loadConfig();
      const deployment = deploymentFromFlags(opts);
      const drainTimeoutMs = opts.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT_MS;
      const metrics = opts.metrics ? await startMetrics(config, opts.metrics) : undefined;
      try {
        const identity = standaloneIdentity(hostQueueName(config.taskQueue), opts.agents, deployment);
        // Signals are ours (drainOnSignals), not the SDK's.
        installRuntime(config, false, { ownSignals: true });
        const running = await startWorkers(config, {
          concurrency: opts.concurrency,
          agents: opts.agents,
          deployment,
          drainTimeoutMs,
          identity,
          activityInterceptors: metrics?.interceptors,
        });
        const forget = drainOnSignals(running.workers, drainTimeoutMs);
        warn(
          `flotilla worker: task queues ${config.taskQueue} and ${running.workers.hostQueue} at ${config.address}, ` +
            `${opts.agents ? `up to ${opts.agents} agents` : 'agents uncapped'} (Ctrl-C or SIGTERM drains)`,
        );
        if (metrics) warn(`flotilla worker: metrics at ${metrics.server.url}`);
        if (deployment) {
          warn(
            `flotilla worker: version ${deployment.name}/${deployment.buildId}; missions it starts are pinned to it` +
              (opts.setCurrent
                ? ''
                : `; new missions start on it once it is the current version (--set-current, or temporal worker deployment set-current-version --deployment-name ${deployment.name} --build-id ${deployment.buildId})`),
          );
          if (opts.setCurrent) {
            try {
              await withConnection(config, ({ connection }) =>
                setCurrentVersion(connection, config.namespace, deployment, identity),
              );
            } catch (err) {
              await running.stop();
              throw err;
            }
            warn(
              `flotilla worker: ${deployment.name}/${deployment.buildId} is the current version: new missions start on it`,
            );
          }
        }
        try {
          await running.done;
        } finally {
          await running.stop();
          forget();
        }
        warn('flotilla worker: drained, stopped');
      } finally {
        await metrics?.server.close();
      }
    });
}
