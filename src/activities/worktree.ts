/**
 * Branches and worktrees: the integration worktree of a mission and one worktree per task, under
 * `$FLOTILLA_HOME/worktrees/<missionId>/<runKey>/`. Idempotent: a retry after a crash finds the
 * branch and worktree it made and reuses them. A branch Flotilla did not make for this mission run
 * is never taken over: its owner is recorded in git config (`branch.<name>.flotillaRun`).
 *
 * A task worktree that is gone (deleted, or no longer a worktree) is rebuilt from its task branch
 * plus its latest checkpoint (`refs/flotilla/checkpoints/<missionId>/<taskId>`, see
 * checkpoint.ts): the checkpoint's files come back as uncommitted changes, nothing staged.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SimpleGit } from 'simple-git';
import type { CommandLine } from '../mission/types';
import { names } from '../mission/types';
import { heartbeating, runCommands } from './checks';
import { ActivityConfig, paths } from './config';
import { gitAt, gitRun, resolveRef, withRepoLock } from './git';

export interface PrepareIntegrationInput {
  missionId: string;
  /** The mission's first run id (stable across continue-as-new): owner of its branches. */
  runId: string;
  repo: string;
  baseBranch: string;
  /** The base SHA recorded at start; null on the first call, which records it. */
  baseSha: string | null;
  /** The mission's `setup` and `copy`: mission verify runs here and needs them as much as tasks. */
  setup: CommandLine[];
  copy: string[];
  /** Limit for each setup command, ms. */
  setupTimeoutMs: number;
}
export interface PrepareIntegrationResult {
  worktree: string;
  branch: string;
  baseSha: string;
  headSha: string;
}

export interface PrepareWorktreeInput {
  missionId: string;
  runId: string;
  taskId: string;
  repo: string;
  /** The integration branch's SHA the task starts from. */
  baseSha: string;
  setup: CommandLine[];
  copy: string[];
  /** Limit for each setup command, ms. */
  setupTimeoutMs: number;
}
export interface PrepareWorktreeResult {
  worktree: string;
  branch: string;
  /** False when an existing worktree was reused (a retry or a resumed task). */
  created: boolean;
  /**
   * The checkpoint whose files were restored into a re-created worktree (as uncommitted changes),
   * or null: a new task, a reused worktree, or a checkpoint not made on the branch's tip.
   */
  restoredCheckpoint: string | null;
}
/** What {@link ensureTaskWorktree} needs: the same as the `prepareWorktree` activity. */
export type TaskWorktreeInput = PrepareWorktreeInput;

const runKey = (runId: string): string => runId.replace(/-/g, '').slice(0, 8);

/** Where the worktree of task `taskId` of the mission run `runId` lives under `home`. */
export function taskWorktreePath(home: string, missionId: string, runId: string, taskId: string): string {
  return path.join(paths.worktreesRoot(home, missionId, runKey(runId)), 'tasks', taskId);
}

/** The task worktree's state files (setup marker, rebuild marker), outside the worktree. */
const taskStateDir = (home: string, missionId: string, runId: string, taskId: string): string =>
  path.join(paths.runDir(home, missionId, taskId), `worktree-${runKey(runId)}`);

/** Written before a worktree is (re-)created, removed once its checkpoint is restored. */
const REBUILD_MARKER = 'rebuild.pending';

/**
 * True when the task's worktree must go through {@link ensureTaskWorktree} before an agent runs
 * in it: it is gone, no longer a worktree (no `.git`), or a rebuild of it was interrupted before
 * its checkpoint was restored.
 */
export function taskWorktreeNeedsRebuild(
  home: string,
  t: { missionId: string; runId: string; taskId: string },
): boolean {
  const worktree = taskWorktreePath(home, t.missionId, t.runId, t.taskId);
  return (
    !existsSync(path.join(worktree, '.git')) ||
    existsSync(path.join(taskStateDir(home, t.missionId, t.runId, t.taskId), REBUILD_MARKER))
  );
}

/**
 * Makes sure the task's branch and worktree exist, provisioned (`copy`, then `setup` once per
 * worktree), and returns them. A worktree that is gone is re-created from the task branch; if the
 * task's checkpoint was taken on the branch's current tip, its files (modified, deleted and
 * untracked ones) are restored into the new worktree without staging or committing anything.
 * A re-created worktree gets `copy` and `setup` again (its setup marker is removed).
 *
 * Used by the `prepareWorktree` activity and by `runAgent` (a worktree lost while its agent runs).
 * Serialized per repository with the other worktree operations of this worker.
 * @throws non-retryable `BranchTaken` when the task branch belongs to another mission run;
 *   retryable `SetupFailed` when a setup command fails; Error when git fails
 */
export async function ensureTaskWorktree(home: string, input: TaskWorktreeInput): Promise<PrepareWorktreeResult> {
  const git = await gitAt(input.repo);
  const branch = names.taskBranch(input.missionId, input.taskId);
  const ref = names.checkpointRef(input.missionId, input.taskId);
  const worktree = taskWorktreePath(home, input.missionId, input.runId, input.taskId);
  const stateDir = taskStateDir(home, input.missionId, input.runId, input.taskId);
  const marker = path.join(stateDir, REBUILD_MARKER);
  const { created, restoredCheckpoint } = await withRepoLock(input.repo, async () => {
    if (!(await resolveRef(git, `refs/heads/${branch}`))) await archiveStaleCheckpoint(git, ref);
    await ensureBranch(git, branch, input.baseSha, input.runId);
    // The marker makes the restore crash-safe: a retry that finds the new worktree healthy but
    // the marker still there restores the checkpoint it did not get to.
    if (!existsSync(path.join(worktree, '.git'))) {
      mkdirSync(stateDir, { recursive: true });
      writeFileSync(marker, new Date().toISOString());
    }
    const made = await ensureWorktree(git, worktree, branch);
    if (!made && !existsSync(marker)) return { created: false, restoredCheckpoint: null };
    const restored = await restoreCheckpoint(git, worktree, branch, ref);
    // A new worktree has none of what setup made in the old one (node_modules, builds).
    rmSync(path.join(stateDir, 'setup.done'), { force: true });
    rmSync(marker, { force: true });
    return { created: made, restoredCheckpoint: restored };
  });
  await provision(worktree, input.repo, input.copy, input.setup, input.setupTimeoutMs, stateDir);
  return { worktree, branch, created, restoredCheckpoint };
}

/**
 * A checkpoint ref whose task branch does not exist was left by an earlier run of a mission with
 * the same id (its branches deleted since): moved aside, never deleted, so it is not restored
 * into this run's worktree.
 */
async function archiveStaleCheckpoint(git: SimpleGit, ref: string): Promise<void> {
  const stale = await resolveRef(git, ref);
  if (!stale) return;
  const aside = ref.replace(/^refs\/flotilla\/checkpoints\//, 'refs/flotilla/stale-checkpoints/') + `/${Date.now()}`;
  await git.raw(['update-ref', aside, stale]);
  await git.raw(['update-ref', '-d', ref, stale]);
}

/**
 * Restores checkpoint `ref` into a freshly created `worktree` when the checkpoint was taken on
 * the branch's tip (later commits on the branch supersede an older checkpoint).
 * @returns the restored checkpoint's SHA, or null
 */
async function restoreCheckpoint(
  git: SimpleGit,
  worktree: string,
  branch: string,
  ref: string,
): Promise<string | null> {
  const ckpt = await resolveRef(git, ref);
  if (!ckpt) return null;
  const tip = await resolveRef(git, `refs/heads/${branch}`);
  const parent = await resolveRef(git, `${ckpt}^1`);
  if (!tip || parent !== tip) return null;
  // --worktree only: files come back as the agent left them, nothing staged; paths tracked on the
  // branch but absent from the checkpoint (the agent deleted them) are deleted again.
  const r = await gitRun(worktree, ['restore', `--source=${ckpt}`, '--worktree', '--', '.']);
  if (r.exitCode !== 0) throw new Error(`restoring checkpoint ${ckpt} into ${worktree} failed: ${r.output}`);
  return ckpt;
}

/** Creates `branch` at `sha` owned by `runId`, or checks that an existing one is ours. */
async function ensureBranch(git: SimpleGit, branch: string, sha: string, runId: string): Promise<void> {
  const key = `branch.${branch}.flotillaRun`;
  if (await resolveRef(git, `refs/heads/${branch}`)) {
    const owner = (await git.raw(['config', '--get', key]).catch(() => '')).trim();
    if (owner !== runId) {
      throw ApplicationFailure.nonRetryable(
        `branch ${branch} already exists and belongs to another mission run; delete it (git branch -D ${branch}) or start the mission with another --id`,
        'BranchTaken',
      );
    }
    return;
  }
  // Owner first: a crash between the two steps must not leave a branch a retry refuses as foreign.
  await git.raw(['config', key, runId]);
  await git.raw(['branch', branch, sha]);
}

/**
 * Makes `dir` a worktree of `repo` with `branch` checked out. An existing healthy worktree is
 * reused; a directory that is not one (e.g. left by a deleted repository) is moved aside, never
 * deleted, since it may hold someone's work.
 */
async function ensureWorktree(repoGit: SimpleGit, dir: string, branch: string): Promise<boolean> {
  if (existsSync(dir)) {
    const wt = await gitAt(dir);
    const top = (await wt.revparse(['--show-toplevel']).catch(() => '')).trim();
    const head = (await wt.raw(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
    if (top && path.resolve(top) === path.resolve(dir) && head === branch) return false;
    renameSync(dir, `${dir}.stale-${Date.now()}`);
  }
  await repoGit.raw(['worktree', 'prune']);
  mkdirSync(path.dirname(dir), { recursive: true });
  await repoGit.raw(['worktree', 'add', dir, branch]);
  return true;
}

/**
 * Copies the mission's `copy` files the worktree lacks (paths stay inside the repository), then
 * runs `setup` once per worktree: a marker file records that it passed.
 * @throws retryable `SetupFailed` when a setup command fails
 */
async function provision(
  worktree: string,
  repo: string,
  copy: string[],
  setup: CommandLine[],
  setupTimeoutMs: number,
  stateDir: string,
): Promise<void> {
  for (const rel of copy) {
    const from = path.resolve(repo, rel);
    const to = path.resolve(worktree, rel);
    if (!from.startsWith(repo + path.sep) || !to.startsWith(worktree + path.sep)) continue;
    if (existsSync(from) && statSync(from).isFile() && !existsSync(to)) {
      mkdirSync(path.dirname(to), { recursive: true });
      copyFileSync(from, to);
    }
  }
  const marker = path.join(stateDir, 'setup.done');
  if (setup.length === 0 || existsSync(marker)) return;
  const result = await runCommands({
    cwd: worktree,
    commands: setup,
    timeoutMs: setupTimeoutMs,
    logFile: path.join(stateDir, 'setup.log'),
  });
  if (!result.ok) {
    const f = result.failed!;
    throw ApplicationFailure.retryable(
      `setup failed: \`${f.command}\` exited ${f.exitCode ?? '(timeout)'}\n${f.outputTail}`,
      'SetupFailed',
    );
  }
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(marker, new Date().toISOString());
}

export function createWorktreeActivities(config: ActivityConfig) {
  return {
    /**
     * Records the base SHA (first call), creates the integration branch from it and its worktree.
     * @throws non-retryable `BaseMissing` when the base branch is gone, `BranchTaken` when the
     *   integration branch belongs to another mission run
     */
    async prepareIntegration(input: PrepareIntegrationInput): Promise<PrepareIntegrationResult> {
      return heartbeating(() => prepareIntegration(input));
    },

    /**
     * Creates (or reuses) the task's branch from `baseSha` and its worktree, copies the
     * mission's `copy` files that the worktree lacks, and runs `setup` once per worktree. A lost
     * worktree is rebuilt from the branch plus its latest checkpoint (see ensureTaskWorktree).
     * @throws non-retryable `BranchTaken`; retryable `SetupFailed` when a setup command fails
     */
    async prepareWorktree(input: PrepareWorktreeInput): Promise<PrepareWorktreeResult> {
      return heartbeating(() => prepareWorktree(input));
    },
  };

  async function prepareIntegration(input: PrepareIntegrationInput): Promise<PrepareIntegrationResult> {
    const git = await gitAt(input.repo);
    const result = await withRepoLock(input.repo, async () => {
      let baseSha = input.baseSha;
      if (!baseSha) {
        baseSha = (await resolveRef(git, `refs/heads/${input.baseBranch}`)) ?? null;
        if (!baseSha) {
          throw ApplicationFailure.nonRetryable(
            `base branch ${input.baseBranch} does not exist in ${input.repo}`,
            'BaseMissing',
          );
        }
      }
      const branch = names.integrationBranch(input.missionId);
      await ensureBranch(git, branch, baseSha, input.runId);
      const worktree = path.join(paths.worktreesRoot(config.home, input.missionId, runKey(input.runId)), 'integration');
      await ensureWorktree(git, worktree, branch);
      const headSha = (await (await gitAt(worktree)).revparse(['HEAD'])).trim();
      return { worktree, branch, baseSha, headSha };
    });
    const stateDir = path.join(config.home, 'runs', input.missionId, `integration-${runKey(input.runId)}`);
    await provision(result.worktree, input.repo, input.copy, input.setup, input.setupTimeoutMs, stateDir);
    return result;
  }

  async function prepareWorktree(input: PrepareWorktreeInput): Promise<PrepareWorktreeResult> {
    return ensureTaskWorktree(config.home, input);
  }
}
