/** `flotilla steer ID TASK MESSAGE [--queue]`: a message for a running task's agent. */
import { Command } from 'commander';
import { steerUpdate } from '../../workflows/messages';
import { loadConfig } from '../config';
import { say, withMission } from './context';

/** Adds `flotilla steer` to the program. */
export function register(program: Command): void {
  program
    .command('steer')
    .description("send a message to a running task's agent: it is interrupted and its session resumes with the message")
    .argument('<id>', 'mission id')
    .argument('<task>', 'task id')
    .argument('<message>', 'the message (quote it)')
    .option('--queue', "deliver when the agent's current run ends instead of interrupting it")
    .action(async (id: string, taskId: string, message: string, opts: { queue?: boolean }) => {
      const result = await withMission(loadConfig(), id, (mission) =>
        mission.update('steer', (h) =>
          h.executeUpdate(steerUpdate, { args: [{ taskId, message, queue: !!opts.queue }] }),
        ),
      );
      say(
        result.delivery === 'interrupt'
          ? `mission ${id}: task ${taskId}'s agent is interrupted and resumes its session with your message`
          : `mission ${id}: message queued for task ${taskId}; its agent gets it when its current run ends`,
      );
    });
}
