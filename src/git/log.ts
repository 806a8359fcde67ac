/**
 * Where host git code reports what it repaired on its own (a stale lock removed, a leftover
 * worktree moved aside): a warning, never a failure. The activities point it at the activity's
 * logger (src/activities/host-failures.ts); elsewhere (the CLI, tests) nothing is logged.
 */

/** A logger's warn and info: message plus structured attributes (Temporal's `log` takes the same). */
export interface HostLog {
  warn(message: string, attrs?: Record<string, unknown>): void;
  info(message: string, attrs?: Record<string, unknown>): void;
}

let sink: HostLog | undefined;

/** Sends host warnings to `log` (undefined: drop them). The activities set it once per process. */
export function setHostLog(log: HostLog | undefined): void {
  sink = log;
}

/** The host library's logger: forwards to the one {@link setHostLog} set; a logger that throws is ignored. */
export const hostLog: HostLog = {
  warn: (message, attrs) => forward('warn', message, attrs),
  info: (message, attrs) => forward('info', message, attrs),
};

function forward(level: keyof HostLog, message: string, attrs?: Record<string, unknown>): void {
  try {
    sink?.[level](message, attrs);
  } catch {
    // Outside an activity Temporal's logger throws: nothing to log to.
  }
}
