/** `flotilla report ID [--out FILE] [--json]`: a self-contained HTML report of a mission. */
import { Command } from 'commander';
import { loadConfig } from '../config';
import { collectReport, writeReport } from '../report/collect';
import { say, withMission } from './context';

/** Adds `flotilla report` to the program. */
export function register(program: Command): void {
  program
    .command('report')
    .description('write a self-contained HTML report of a mission: timeline, dependency graph, cost, failures')
    .argument('<id>', 'mission id')
    .option('--out <file>', 'where to write it (default: $FLOTILLA_HOME/runs/<id>/report.html)')
    .option('--json', 'print the data the report draws instead of writing it')
    .action(async (id: string, opts: { out?: string; json?: boolean }) => {
      await withMission(loadConfig(), id, async (mission) => {
        if (opts.json) {
          say(JSON.stringify(await collectReport(mission), null, 2));
          return;
        }
        const { url } = await writeReport(mission, opts.out);
        say(url);
      });
    });
}
