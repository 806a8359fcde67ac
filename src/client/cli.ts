#!/usr/bin/env node
/**
 * The `flotilla` command line (README, "CLI"). Thin: builds the commander program from the
 * command modules in `commands/` and maps what they throw to the exit codes of `errors.ts`:
 * 0 completed, 1 failed/cancelled, 2 invalid input, 3 needs a human, 4 unknown mission.
 */
import { Command } from 'commander';
import { MissionFileError } from '../mission/errors';
import { COMMANDS } from './commands';
import { warn } from './commands/context';
import { CliError, EXIT } from './errors';

/** The program with every command; it throws instead of exiting (see `main`). */
export function buildProgram(): Command {
  const program = new Command('flotilla')
    .description('Run many AI coding agents on one git repository, durably, on Temporal.')
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride();
  for (const command of COMMANDS) command.register(program);
  return program;
}

/** The exit code for what a command threw, after printing it (no stack trace for user mistakes). */
function exitCodeOf(err: unknown): number {
  const e = err as { code?: string };
  if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
    // commander printed the problem already; usage mistakes are invalid input.
    return ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(e.code) ? EXIT.ok : EXIT.invalid;
  }
  if (err instanceof MissionFileError) {
    warn(err.message);
    return EXIT.invalid;
  }
  if (err instanceof CliError) {
    warn(`flotilla: ${err.message}`);
    return err.exitCode;
  }
  warn(`flotilla: ${(err as Error).message ?? String(err)}`);
  if (process.env.FLOTILLA_DEBUG) warn((err as Error).stack ?? '');
  return EXIT.failed;
}

/** Runs the CLI on `argv` (as `process.argv`); sets `process.exitCode`. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeOf(err);
  }
}

if (require.main === module) {
  void main(process.argv).then(() => {
    // Lingering gRPC handles must not keep a finished command alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
  });
}
