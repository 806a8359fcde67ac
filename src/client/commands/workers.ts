/** `flotilla workers [--json]`: the live workers of the shared and host queues, with their agent cap and load. */
import { Command } from 'commander';
import { loadConfig } from '../config';
import { listWorkers, WorkerListing } from '../fleet';
import { say, withConnection } from './context';

/** One line per worker: `<pid>@<host>`, kind, agents running / cap (and waiting), queues, version, last poll. */
export function renderWorkers(workers: WorkerListing[]): string {
  const rows = workers.map((w) => [
    w.identity.split(' ')[0],
    w.kind,
    `${w.running}/${w.agentCap ?? 'any'}${w.waiting ? ` (+${w.waiting} waiting)` : ''}`,
    w.queues.join(', '),
    w.version ?? '-',
    w.lastSeen.slice(11, 19),
  ]);
  const head = ['WORKER', 'KIND', 'AGENTS', 'QUEUES', 'VERSION', 'SEEN (UTC)'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Adds `flotilla workers` to the program. */
export function register(program: Command): void {
  program
    .command('workers')
    .description('the workers polling the shared and host task queues, with their agents running and cap')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const workers = await withConnection(config, ({ client }) =>
        listWorkers(client, config.namespace, config.taskQueue),
      );
      if (opts.json) say(JSON.stringify(workers, null, 2));
      else if (workers.length === 0) say(`no worker polls ${config.taskQueue}: start one with flotilla worker`);
      else say(renderWorkers(workers));
    });
}
