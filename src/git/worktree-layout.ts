/**
 * Where a mission run's worktrees and their state files live:
 * `$FLOTILLA_HOME/worktrees/<missionId>/<runKey>/{integration,tasks/<taskId>,tasks/<taskId>.conflict}`
 * and `$FLOTILLA_HOME/runs/<missionId>/<taskId>/{worktree,conflict}-<runKey>/`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { resolverDir, runDir } from '../agents/paths';
import { unfinishedAdd } from './worktree-add';

/** The folders under `$FLOTILLA_HOME` where a mission's worktrees and its tasks' files live. */
export const paths = {
  /** A mission run's worktrees: `worktrees/<missionId>/<runKey>`. */
  worktreesRoot: (home: string, missionId: string, runKey: string): string =>
    path.join(home, 'worktrees', missionId, runKey),
  /** A task's agent files and worktree notes: `runs/<missionId>/<taskId>` (src/agents/paths.ts). */
  runDir,
  /** The task's merge-conflict resolver's files (src/agents/paths.ts). */
  resolverDir,
};

/**
 * The folder key of a mission run under `$FLOTILLA_HOME/worktrees/<missionId>/`: its whole run id
 * without dashes. Run ids are time-ordered (UUIDv7), so a shorter prefix would be shared by runs
 * of one mission id started close together, and a re-run would find the previous run's worktrees.
 */
export function runKey(runId: string): string {
  return runId.replace(/-/g, '');
}

/** Where the worktree of task `taskId` of the mission run `runId` lives under `home`. */
export function taskWorktreePath(home: string, missionId: string, runId: string, taskId: string): string {
  return path.join(paths.worktreesRoot(home, missionId, runKey(runId)), 'tasks', taskId);
}

/** The suffix of a conflict worktree's folder (task ids have no dots, so it never names a task). */
export const CONFLICT_SUFFIX = '.conflict';

/**
 * Where the merge of task `taskId` is set up for a resolver agent when it conflicts (conflict.ts):
 * next to the task's worktree, `<task worktree>.conflict`.
 */
export function conflictWorktreePath(home: string, missionId: string, runId: string, taskId: string): string {
  return taskWorktreePath(home, missionId, runId, taskId) + CONFLICT_SUFFIX;
}

/** The conflict worktree's files outside it (its setup log). */
export const conflictStateDir = (home: string, missionId: string, runId: string, taskId: string): string =>
  path.join(paths.runDir(home, missionId, taskId), `conflict-${runKey(runId)}`);

/** The task worktree's state files (setup marker, rebuild marker), outside the worktree. */
export const taskStateDir = (home: string, missionId: string, runId: string, taskId: string): string =>
  path.join(paths.runDir(home, missionId, taskId), `worktree-${runKey(runId)}`);

/** Written before a worktree is (re-)created, removed once its checkpoint is restored. */
export const REBUILD_MARKER = 'rebuild.pending';

/** Written (with the tree of the worktree before setup) when the mission's `setup` starts in a worktree. */
export const SETUP_STARTED = 'setup.started';
/** Written when the mission's `setup` passed in a worktree: it does not run there again. */
export const SETUP_DONE = 'setup.done';

/**
 * True when setup started in the worktree whose state files are in `stateDir` and did not pass:
 * its worker stopped or died, or a command failed or timed out. No agent has run in such a
 * worktree (an agent starts only after setup passed), and what setup half made (a cut-short
 * `npm install`) may break its next run: the worktree is made again from scratch.
 */
export function setupInterrupted(stateDir: string): boolean {
  return existsSync(path.join(stateDir, SETUP_STARTED)) && !existsSync(path.join(stateDir, SETUP_DONE));
}

/**
 * True when the task's worktree must go through {@link ensureTaskWorktree} before an agent runs
 * in it: it is gone, no longer a worktree (no `.git`), its `git worktree add` did not finish
 * (worktree-add.ts), a rebuild of it was interrupted before its checkpoint was restored, or its
 * setup was cut short ({@link setupInterrupted}).
 */
export function taskWorktreeNeedsRebuild(
  home: string,
  t: { missionId: string; runId: string; taskId: string },
): boolean {
  const worktree = taskWorktreePath(home, t.missionId, t.runId, t.taskId);
  const stateDir = taskStateDir(home, t.missionId, t.runId, t.taskId);
  return (
    !existsSync(path.join(worktree, '.git')) ||
    unfinishedAdd(worktree) !== null ||
    existsSync(path.join(stateDir, REBUILD_MARKER)) ||
    setupInterrupted(stateDir)
  );
}
