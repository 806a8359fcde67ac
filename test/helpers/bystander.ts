/**
 * Real processes that are not Flotilla's (`sleep`, each the leader of a group of its own), for
 * tests that check Flotilla never kills what it did not start, and that it sees a live agent.
 */
import { ChildProcess, spawn } from 'node:child_process';

const started: ChildProcess[] = [];

/** Starts `sleep 300` (or the program `program`, as it is named on disk) in a group of its own. @returns its PID */
export function bystander(opts: { cwd?: string; program?: string } = {}): number {
  const c = spawn(opts.program ?? 'sleep', ['300'], { detached: true, stdio: 'ignore', cwd: opts.cwd });
  c.unref();
  started.push(c);
  return c.pid!;
}

/** SIGKILLs the groups of every bystander this test file started (for `afterAll`). */
export function killBystanders(): void {
  for (const c of started.splice(0)) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
