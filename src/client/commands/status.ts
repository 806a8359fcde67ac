/**
 * `flotilla status ID [--json]`: a mission's progress, running or ended, also with no worker: as
 * a table with the commands that go on (`renderStatus`), or the `status --json` shape.
 */
import { Command } from 'commander';
import { loadConfig } from '../config';
import { renderStatus, stdoutOptions } from '../render';
import { say, withMission } from './context';

/** Adds `flotilla status` to the program. */
export function register(program: Command): void {
  program
    .command('status')
    .description("a mission's progress")
    .argument('<id>', 'mission id')
    .option('--json', 'print the status as JSON (its shape: docs/watching.md)')
    .action(async (id: string, opts: { json?: boolean }) => {
      const p = await withMission(loadConfig(), id, (mission) => mission.progress());
      say(opts.json ? JSON.stringify(p, null, 2) : renderStatus(p, stdoutOptions()));
    });
}
