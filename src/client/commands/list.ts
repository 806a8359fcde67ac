/** `flotilla list [--json]`: missions, newest first. */
import { Command } from 'commander';
import { loadConfig } from '../config';
import { listMissions } from '../visibility';
import { say, withConnection } from './context';

/** Adds `flotilla list` to the program. */
export function register(program: Command): void {
  program
    .command('list')
    .description('missions, newest first')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const missions = await withConnection(loadConfig(), ({ client }) => listMissions(client));
      if (opts.json) say(JSON.stringify(missions, null, 2));
      else if (missions.length === 0) say('no missions yet: flotilla run <mission.yaml>');
      else
        for (const m of missions)
          say(
            `${m.missionId.padEnd(24)} ${(m.phase ?? m.status).padEnd(10)} started ${m.startedAt}${m.closedAt ? `  ended ${m.closedAt}` : ''}`,
          );
    });
}
