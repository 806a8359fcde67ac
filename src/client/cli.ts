#!/usr/bin/env node
/**
 * The `flotilla` command line (README, "CLI"). Thin: builds the commander program from the
 * command modules in `commands/` and maps what they throw to the exit codes of `errors.ts`:
 * 0 completed, 1 failed/cancelled, 2 invalid input, 3 needs a human, 4 unknown mission.
 */
import { Command } from 'commander';
import { MissionFileError } from '../mission-file/errors';
import { ID_PATTERN } from '../mission-file/schema';
import { COMMANDS } from './commands';
import { warn } from './commands/context';
import { CliError, EXIT } from './errors';

/**
 * After a usage mistake commander prints `error: ...`; each command then prints its usage as the
 * fix (not its whole help). Applied to every command, nested ones (`server stop`) included.
 */
function usageAsFix(command: Command, prefix = ''): void {
  const name = `${prefix}${command.name()}`;
  command.showHelpAfterError(`fix: usage: ${name} ${command.usage()} (more: ${name} --help)`);
  for (const sub of command.commands) usageAsFix(sub, `${name} `);
}

/**
 * Mission and task ids in arguments (`<id>`, `<task>`) are checked before a command connects:
 * one that cannot be an id is a typo, exit 2, not an unknown mission.
 * @throws CliError exit 2
 */
function checkIdArguments(action: Command): void {
  action.registeredArguments.forEach((arg, i) => {
    const value = action.processedArgs[i] as unknown;
    if (!['id', 'task'].includes(arg.name()) || typeof value !== 'string' || ID_PATTERN.test(value)) return;
    const what = arg.name() === 'id' ? 'mission' : 'task';
    throw new CliError(
      `"${value}" is not a ${what} id: ids are lowercase letters, digits and dashes, at most 63\n` +
        `fix: check the ${what} id (${what === 'mission' ? '`flotilla list` shows the missions' : '`flotilla status <id>` shows the tasks'})`,
      EXIT.invalid,
    );
  });
}

/** The program with every command; it throws instead of exiting (see `main`). */
export function buildProgram(): Command {
  const program = new Command('flotilla')
    .description('Run many AI coding agents on one git repository, durably, on Temporal.')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride()
    .hook('preAction', (_program, action) => checkIdArguments(action));
  for (const command of COMMANDS) command.register(program);
  usageAsFix(program);
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
