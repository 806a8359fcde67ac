/**
 * `flotilla logs ID TASK [--follow] [--raw] [--resolver]`: a task's agent transcript, or with
 * `--resolver` the transcript of the agent that resolved its merge conflicts, from their files.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config';
import { CliError, EXIT } from '../errors';
import { transcriptDir, transcriptFiles } from '../../agents/transcript';
import { TranscriptRenderer } from '../transcript';
import { say } from './context';

/** Between two reads of a followed transcript, ms. */
const FOLLOW_POLL_MS = 500;

/** Adds `flotilla logs` to the program. */
export function register(program: Command): void {
  program
    .command('logs')
    .description("a task's agent transcript")
    .argument('<id>', 'mission id')
    .argument('<task>', 'task id')
    .option('--follow', 'keep printing as the agent writes')
    .option('--raw', "print the agent's output lines exactly as it wrote them")
    .option('--resolver', "the transcript of the agent that resolved the task's merge conflict")
    .action(async (id: string, taskId: string, opts: { follow?: boolean; raw?: boolean; resolver?: boolean }) => {
      const config = loadConfig();
      // Per file, how far it was printed: only whole lines, so a line being written waits.
      const printed = new Map<string, number>();
      const renderer = new TranscriptRenderer(!!opts.raw);
      const pump = (): void => {
        for (const file of transcriptFiles(config.home, id, taskId, !!opts.resolver)) {
          const text = readFileSync(file, 'utf8');
          const from = printed.get(file) ?? 0;
          const end = text.lastIndexOf('\n') + 1;
          for (const line of text.slice(from, end).split('\n').filter(Boolean)) {
            const shown = renderer.render(line);
            if (shown !== undefined) say(shown);
          }
          printed.set(file, end);
        }
      };
      pump();
      if (printed.size === 0 && !opts.follow)
        throw new CliError(
          opts.resolver
            ? `no resolver transcript for task "${taskId}" of mission "${id}" in ${transcriptDir(config.home, id, taskId, true)}: no merge conflict of this task was given to a resolver agent`
            : `no transcript for task "${taskId}" of mission "${id}" in ${path.join(config.home, 'runs')}`,
          EXIT.unknownMission,
        );
      while (opts.follow) {
        await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
        pump();
      }
    });
}
