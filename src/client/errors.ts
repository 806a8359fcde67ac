/**
 * What the CLI reports to people and how it exits. Every error a user can cause becomes a
 * {@link CliError}: printed as `flotilla: <message>` without a stack trace, with its exit code.
 */

/** Exit codes of the `flotilla` command (README, "CLI"). */
export const EXIT = {
  /** The mission completed; a command did what it was asked. */
  ok: 0,
  /** The mission failed or was cancelled; a command could not do its work. */
  failed: 1,
  /** Invalid input: a mission file, an argument, a request the mission rejects. */
  invalid: 2,
  /** The mission waits for a human (blocked, or paused with nothing running). */
  needsHuman: 3,
  /** No such mission. */
  unknownMission: 4,
  /** `run`/`watch` interrupted (Ctrl-C); 128 + SIGINT, as shells report it. */
  interrupted: 130,
} as const;

/** A user-facing failure of the CLI: printed without a stack trace, with this exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    public readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The progress query went unanswered: no worker polls (yet). Worth retrying while one starts. */
export class NoWorkerError extends CliError {
  constructor(message: string) {
    super(message, EXIT.failed);
    this.name = 'NoWorkerError';
  }
}
