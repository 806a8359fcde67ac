/**
 * `flotilla worker [--concurrency N] [--metrics HOST:PORT]`: a standalone worker for the shared
 * queue and this host, optionally serving Prometheus metrics.
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { ListenAddress, parseListenAddress } from '../../worker/metrics-address';
import type { MetricsServer } from '../../worker/metrics-server';
import { FlotillaConfig, loadConfig } from '../config';
import { CliError, EXIT } from '../errors';
import { installRuntime, startWorkers } from '../workers';
import { warn } from './context';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
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

/** Adds `flotilla worker` to the program. */
export function register(program: Command): void {
  program
    .command('worker')
    .description('run a worker for the shared task queue and this host')
    .option('--concurrency <n>', 'activities at once on this host', positiveInt)
    .option(
      '--metrics <host:port>',
      "serve Prometheus metrics (Flotilla's and the Temporal SDK's) at http://HOST:PORT/metrics",
      listenAddress,
    )
    .action(async (opts: { concurrency?: number; metrics?: ListenAddress }) => {
      const config = loadConfig();
      const metrics = opts.metrics ? await startMetrics(config, opts.metrics) : undefined;
      try {
        // The SDK's own signal handling: Ctrl-C lets running activities finish within its grace time.
        installRuntime(config, false);
        const running = await startWorkers(config, {
          concurrency: opts.concurrency,
          activityInterceptors: metrics?.interceptors,
        });
        warn(
          `flotilla worker: task queues ${config.taskQueue} and ${running.workers.hostQueue} at ${config.address} (Ctrl-C to stop)`,
        );
        if (metrics) warn(`flotilla worker: metrics at ${metrics.server.url}`);
        try {
          await running.done;
        } finally {
          await running.stop();
        }
      } finally {
        await metrics?.server.close();
      }
    });
}
