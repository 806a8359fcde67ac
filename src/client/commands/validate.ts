/** `flotilla validate FILE`: the mission file checked and its wave plan printed; needs no server. */
import { Command } from 'commander';
import path from 'node:path';
import { loadMission } from '../../mission/load';
import { loadConfig } from '../config';
import { checkMissionSize } from '../mission-size';
import { renderPlan } from '../render-plan';
import { checkSandbox } from '../sandbox-check';
import { say } from './context';

/** Adds `flotilla validate` to the program. */
export function register(program: Command): void {
  program
    .command('validate')
    .description('validate a mission file and print its wave plan (needs no server)')
    .argument('<file>', 'mission file (YAML or JSON)')
    .option('--id <id>', 'mission id (overrides the file)')
    .action(async (file: string, opts: { id?: string }) => {
      const loaded = await loadMission(file, {
        idOverride: opts.id,
        checkRepo: true,
        scaffoldRoot: path.join(loadConfig().home, 'repos'),
      });
      checkMissionSize(loaded);
      await checkSandbox(loaded);
      say(renderPlan(loaded.spec, loaded.waves, path.relative(process.cwd(), loaded.file) || loaded.file));
      if (loaded.scaffoldDir)
        say(
          `  (run creates the repository fresh from ${loaded.scaffoldDir}; one it made before is replaced only when nothing of a mission is left in it)`,
        );
      say('valid');
    });
}
