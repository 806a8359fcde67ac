/** `flotilla worker [--concurrency N]`: a standalone worker for the shared queue and this host. */
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config';
import { installRuntime, startWorkers } from '../workers';
import { warn } from './context';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}

/** Adds `flotilla worker` to the program. */
export function register(program: Command): void {
  program
    .command('worker')
    .description('run a worker for the shared task queue and this host')
    .option('--concurrency <n>', 'activities at once on this host', positiveInt)
    .action(async (opts: { concurrency?: number }) => {
      const config = loadConfig();
      // The SDK's own signal handling: Ctrl-C lets running activities finish within its grace time.
      installRuntime(config, false);
      const running = await startWorkers(config, { concurrency: opts.concurrency });
      warn(
        `flotilla worker: task queues ${config.taskQueue} and ${running.workers.hostQueue} at ${config.address} (Ctrl-C to stop)`,
      );
      try {
        await running.done;
      } finally {
        await running.stop();
      }
    });
}
