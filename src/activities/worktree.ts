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
import { ErrorType } from '../mission/error-types';
import type { CommandLine } from '../mission/types';
import { names } from '../mission/types';
import { CommandProgress, heartbeating, runCommands } from './checks';
import { ActivityConfig, paths } from './config';
import { git, gitRun, isAncestor, resolveRef, withRepoLock } from './git';
import { cloneOrigin, fetchOrigin, missionRefspecs, pushTracked, trackingRef } from './origin';
import { REBUILD_MARKER, runKey, taskStateDir, taskWorktreePath } from './worktree-layout';

export { runKey, taskWorktreeNeedsRebuild, taskWorktreePath } from './worktree-layout';

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
  /** Names of the worker's variables setup commands get besides the baseline (the mission's `env:`). */
  env?: string[];
  /** Every secret name the mission lists; the worker's redaction boundary learns them (see CommandNames). */
  redact?: string[];
  /**
   * The merge queue's integration worktree: its HEAD is detached (at the integration branch's tip
   * when the worktree is made), so moving the branch with `git update-ref` (publishRef) never
   * leaves a worktree that has it checked out stale; `verifyAt` checks out what it verifies. An
   * existing worktree with the branch checked out is detached where it is, nothing lost. Absent
   * (missions from before the queue replay without it): the branch is checked out, as always.
   */
  detached?: boolean;
}
export interface PrepareIntegrationResult {
  worktree: string;
  branch: string;
  baseSha: string;
  /** The integration branch's tip (with `detached`, the worktree's HEAD may be elsewhere: see verifyAt). */
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
  /** Names of the worker's variables setup commands get besides the baseline (the mission's `env:`). */
  env?: string[];
  /** Every secret name the mission lists; the worker's redaction boundary learns them (see CommandNames). */
  redact?: string[];
  /**
   * The task was just placed on this host (a mission with `origin:`): make the worktree what the
   * origin holds, the task branch plus its latest pushed checkpoint, before anything else. A
   * local worktree that differs is moved aside (never deleted). Ignored outside a Flotilla clone.
   */
  fromOrigin?: boolean;
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

/** How a caller of {@link ensureTaskWorktree} hears about setup commands that run. */
export interface ProvisionOptions {
  /** Called about every second while a setup command runs (the caller heartbeats its own details). */
  onProgress?: (p: CommandProgress) => void;
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
 *   retryable `SetupFailed` when a setup command fails (its output redacted);
 *   GitError when git fails
 */
export async function ensureTaskWorktree(
  home: string,
  input: TaskWorktreeInput,
  opts: ProvisionOptions = {},
): Promise<PrepareWorktreeResult> {
  const { repo } = input;
  const branch = names.taskBranch(input.missionId, input.taskId);
  const ref = names.checkpointRef(input.missionId, input.taskId);
  const worktree = taskWorktreePath(home, input.missionId, input.runId, input.taskId);
  const stateDir = taskStateDir(home, input.missionId, input.runId, input.taskId);
  const marker = path.join(stateDir, REBUILD_MARKER);
  const origin = await cloneOrigin(repo);
  const { created, restoredCheckpoint } = await withRepoLock(repo, async () => {
    if (origin) {
      await fetchOrigin(repo, missionRefspecs(input.missionId));
      if (input.fromOrigin) await adoptOrigin(repo, { branch, ref, worktree, marker, stateDir, runId: input.runId });
      if (!(await resolveRef(repo, `${input.baseSha}^{commit}`)))
        throw ApplicationFailure.retryable(
          `the task's base ${input.baseSha.slice(0, 12)} is not on the origin yet (${origin})`,
          ErrorType.OriginBehind,
        );
    }
    if (!(await resolveRef(repo, `refs/heads/${branch}`))) await archiveStaleCheckpoint(repo, ref);
    await ensureBranch(repo, branch, input.baseSha, input.runId);
    // The marker makes the restore crash-safe: a retry that finds the new worktree healthy but
    // the marker still there restores the checkpoint it did not get to.
    if (!existsSync(path.join(worktree, '.git'))) {
      mkdirSync(stateDir, { recursive: true });
      writeFileSync(marker, new Date().toISOString());
    }
    const made = await ensureWorktree(repo, worktree, branch);
    if (!made && !existsSync(marker)) return { created: false, restoredCheckpoint: null };
    const restored = await restoreCheckpoint(repo, worktree, branch, ref);
    // A new worktree has none of what setup made in the old one (node_modules, builds).
    rmSync(path.join(stateDir, 'setup.done'), { force: true });
    rmSync(marker, { force: true });
    return { created: made, restoredCheckpoint: restored };
  });
  // The branch exists on the origin from the start, so a host that takes the task over finds it.
  if (origin) await pushTracked(repo, `refs/heads/${branch}`);
  await provision(worktree, input, stateDir, opts);
  return { worktree, branch, created, restoredCheckpoint };
}

/**
 * The mission's refs as the origin has them (fetched into the tracking refs), for the host that
 * holds (or takes over) the integration worktree: the integration branch, owned by `runId`, when
 * this host has none or an older one; the merge queue's candidate ref whenever the origin has
 * one (the last host pushed it on every move, before the workflow saw the move).
 */
async function adoptMissionRefs(repo: string, branch: string, missionId: string, runId: string): Promise<void> {
  const remote = await resolveRef(repo, trackingRef(`refs/heads/${branch}`));
  const local = await resolveRef(repo, `refs/heads/${branch}`);
  if (remote && remote !== local && (!local || (await isAncestor(repo, local, remote)))) {
    await git(repo, ['config', `branch.${branch}.flotillaRun`, runId]);
    await git(repo, ['update-ref', '-m', "flotilla: the origin's integration branch", `refs/heads/${branch}`, remote]);
  }
  const candidate = `refs/flotilla/candidates/${missionId}`;
  const pushed = await resolveRef(repo, trackingRef(candidate));
  if (pushed) await git(repo, ['update-ref', '-m', "flotilla: the origin's candidate", candidate, pushed]);
}

/**
 * Makes this host's task branch and checkpoint what the origin holds (fetched into the tracking
 * refs): the branch is set to the origin's (owned by `runId`), the checkpoint ref to the origin's
 * (the old value stays in its reflog), and a worktree that held other work is moved aside, so
 * ensureTaskWorktree re-creates it and restores the checkpoint. Nothing changes when the origin
 * has no such branch (a new task) or this host already matches it.
 */
async function adoptOrigin(
  repo: string,
  t: { branch: string; ref: string; worktree: string; marker: string; stateDir: string; runId: string },
): Promise<void> {
  const remote = await resolveRef(repo, trackingRef(`refs/heads/${t.branch}`));
  if (!remote) return;
  const remoteCkpt = (await resolveRef(repo, trackingRef(t.ref))) ?? null;
  const local = await resolveRef(repo, `refs/heads/${t.branch}`);
  const localCkpt = (await resolveRef(repo, t.ref)) ?? null;
  const healthy = existsSync(path.join(t.worktree, '.git'));
  // Nothing newer on the origin than here: the origin's checkpoint is this host's own, and its
  // branch is this host's or behind it (commits made after the last push). Keep what is here.
  const ours = remoteCkpt === null || localCkpt === remoteCkpt;
  if (ours && healthy && local && (local === remote || (await isAncestor(repo, remote, local)))) return;
  if (existsSync(t.worktree)) renameSync(t.worktree, `${t.worktree}.stale-${Date.now()}`);
  await git(repo, ['worktree', 'prune']);
  await git(repo, ['config', `branch.${t.branch}.flotillaRun`, t.runId]);
  await git(repo, ['update-ref', '-m', "flotilla: adopt the origin's task branch", `refs/heads/${t.branch}`, remote]);
  await git(repo, ['update-ref', trackingRef(`refs/heads/${t.branch}`), remote]);
  if (remoteCkpt) {
    await git(repo, ['update-ref', '-m', "flotilla: adopt the origin's checkpoint", t.ref, remoteCkpt]);
  }
  mkdirSync(t.stateDir, { recursive: true });
  writeFileSync(t.marker, new Date().toISOString());
}

/**
 * A checkpoint ref whose task branch does not exist was left by an earlier run of a mission with
 * the same id (its branches deleted since): moved aside, never deleted, so it is not restored
 * into this run's worktree.
 */
async function archiveStaleCheckpoint(repo: string, ref: string): Promise<void> {
  const stale = await resolveRef(repo, ref);
  if (!stale) return;
  const aside = ref.replace(/^refs\/flotilla\/checkpoints\//, 'refs/flotilla/stale-checkpoints/') + `/${Date.now()}`;
  await git(repo, ['update-ref', aside, stale]);
  await git(repo, ['update-ref', '-d', ref, stale]);
}

/**
 * Restores checkpoint `ref` into a freshly created `worktree` when the checkpoint was taken on
 * the branch's tip (later commits on the branch supersede an older checkpoint).
 * @returns the restored checkpoint's SHA, or null
 */
async function restoreCheckpoint(repo: string, worktree: string, branch: string, ref: string): Promise<string | null> {
  const ckpt = await resolveRef(repo, ref);
  if (!ckpt) return null;
  const tip = await resolveRef(repo, `refs/heads/${branch}`);
  const parent = await resolveRef(repo, `${ckpt}^1`);
  if (!tip || parent !== tip) return null;
  // --worktree only: files come back as the agent left them, nothing staged; paths tracked on the
  // branch but absent from the checkpoint (the agent deleted them) are deleted again.
  const r = await gitRun(worktree, ['restore', `--source=${ckpt}`, '--worktree', '--', '.']);
  if (r.exitCode !== 0) throw new Error(`restoring checkpoint ${ckpt} into ${worktree} failed: ${r.output}`);
  return ckpt;
}

/** Creates `branch` at `sha` owned by `runId`, or checks that an existing one is ours. */
async function ensureBranch(repo: string, branch: string, sha: string, runId: string): Promise<void> {
  const key = `branch.${branch}.flotillaRun`;
  if (await resolveRef(repo, `refs/heads/${branch}`)) {
    const owner = (await git(repo, ['config', '--get', key]).catch(() => '')).trim();
    if (owner !== runId) {
      throw ApplicationFailure.nonRetryable(
        `branch ${branch} already exists and belongs to another mission run; delete it (git branch -D ${branch}) or start the mission with another --id`,
        ErrorType.BranchTaken,
      );
    }
    return;
  }
  // Owner first: a crash between the two steps must not leave a branch a retry refuses as foreign.
  await git(repo, ['config', key, runId]);
  await git(repo, ['branch', branch, sha]);
}

/**
 * Makes `dir` a worktree of `repo` with `branch` checked out. An existing healthy worktree is
 * reused; a directory that is not one (e.g. left by a deleted repository) is moved aside, never
 * deleted, since it may hold someone's work.
 * @returns true when it created the worktree
 */
async function ensureWorktree(repo: string, dir: string, branch: string): Promise<boolean> {
  if (existsSync(dir)) {
    const top = (await git(dir, ['rev-parse', '--show-toplevel']).catch(() => '')).trim();
    const head = (await git(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
    if (top && path.resolve(top) === path.resolve(dir) && head === branch) return false;
    renameSync(dir, `${dir}.stale-${Date.now()}`);
  }
  await git(repo, ['worktree', 'prune']);
  mkdirSync(path.dirname(dir), { recursive: true });
  await git(repo, ['worktree', 'add', '--quiet', dir, branch]);
  return true;
}

/**
 * Makes `dir` a worktree of `repo` whose HEAD is detached: a new one at `branch`'s tip (`git
 * worktree add --detach`). An existing healthy worktree that is detached is reused where its HEAD
 * is (verifyAt may have checked out a candidate there); one that has `branch` checked out is
 * detached at the same commit (`git checkout --detach`: index, files and untracked files stay as
 * they are). Anything else at `dir` is moved aside, as in {@link ensureWorktree}.
 * @returns true when it created the worktree
 */
async function ensureDetachedWorktree(repo: string, dir: string, branch: string): Promise<boolean> {
  if (existsSync(dir)) {
    const top = (await git(dir, ['rev-parse', '--show-toplevel']).catch(() => '')).trim();
    if (top && path.resolve(top) === path.resolve(dir)) {
      const head = await gitRun(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
      if (head.exitCode !== 0) return false; // already detached
      if (head.output.trim() === branch) {
        await git(dir, ['checkout', '--quiet', '--detach']);
        return false;
      }
    }
    renameSync(dir, `${dir}.stale-${Date.now()}`);
  }
  await git(repo, ['worktree', 'prune']);
  mkdirSync(path.dirname(dir), { recursive: true });
  await git(repo, ['worktree', 'add', '--quiet', '--detach', dir, `refs/heads/${branch}`]);
  return true;
}

/**
 * Copies the mission's `copy` files (paths relative to the repository, e.g. `.env`) from `repo`
 * into `worktree` where the worktree lacks them; paths leaving either directory are skipped.
 */
export function copyMissionFiles(repo: string, worktree: string, copy: string[]): void {
  for (const rel of copy) {
    const from = path.resolve(repo, rel);
    const to = path.resolve(worktree, rel);
    if (!from.startsWith(repo + path.sep) || !to.startsWith(worktree + path.sep)) continue;
    if (existsSync(from) && statSync(from).isFile() && !existsSync(to)) {
      mkdirSync(path.dirname(to), { recursive: true });
      copyFileSync(from, to);
    }
  }
}

/**
 * Copies the mission's `copy` files the worktree lacks (paths stay inside the repository), then
 * runs `setup` once per worktree: a marker file in `stateDir` records that it passed.
 * @throws retryable `SetupFailed` when a setup command fails, its output redacted
 */
async function provision(
  worktree: string,
  input: Pick<TaskWorktreeInput, 'repo' | 'copy' | 'setup' | 'setupTimeoutMs' | 'env' | 'redact'>,
  stateDir: string,
  opts: ProvisionOptions,
): Promise<void> {
  const { setup } = input;
  copyMissionFiles(input.repo, worktree, input.copy);
  const marker = path.join(stateDir, 'setup.done');
  if (setup.length === 0 || existsSync(marker)) return;
  const result = await runCommands(
    {
      cwd: worktree,
      commands: setup,
      timeoutMs: input.setupTimeoutMs,
      logFile: path.join(stateDir, 'setup.log'),
      env: input.env,
      redact: input.redact,
    },
    opts.onProgress,
  );
  if (!result.ok) {
    const f = result.failed!;
    throw ApplicationFailure.retryable(
      `setup failed: \`${f.command}\` exited ${f.exitCode ?? '(timeout)'}\n${f.outputTail}`,
      ErrorType.SetupFailed,
    );
  }
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(marker, new Date().toISOString());
}

export function createWorktreeActivities(config: ActivityConfig) {
  return {
    /**
     * Records the base SHA (first call), creates the integration branch from it and its worktree
     * (with `input.detached`, a worktree whose HEAD is detached: see {@link PrepareIntegrationInput}).
     * Heartbeats every 5 s (with `{ command }` while a setup command runs).
     * @throws non-retryable `BaseMissing` when the base branch is gone, `BranchTaken` when the
     *   integration branch belongs to another mission run; retryable `SetupFailed`
     */
    async prepareIntegration(input: PrepareIntegrationInput): Promise<PrepareIntegrationResult> {
      return heartbeating((beat) => prepareIntegration(input, beat));
    },

    /**
     * Creates (or reuses) the task's branch from `baseSha` and its worktree, copies the
     * mission's `copy` files that the worktree lacks, and runs `setup` once per worktree. A lost
     * worktree is rebuilt from the branch plus its latest checkpoint (see ensureTaskWorktree).
     * Heartbeats every 5 s (with `{ command }` while a setup command runs).
     * @throws non-retryable `BranchTaken`; retryable `SetupFailed` when a setup command fails
     */
    async prepareWorktree(input: PrepareWorktreeInput): Promise<PrepareWorktreeResult> {
      return heartbeating((beat) => ensureTaskWorktree(config.home, input, { onProgress: (p) => beat(p) }));
    },
  };

  async function prepareIntegration(
    input: PrepareIntegrationInput,
    beat: (details?: unknown) => void,
  ): Promise<PrepareIntegrationResult> {
    const { repo } = input;
    const key = runKey(config.home, input.missionId, input.runId);
    const origin = await cloneOrigin(repo);
    const result = await withRepoLock(repo, async () => {
      let baseSha = input.baseSha;
      // A clone of a shared origin: the base is the origin's branch, fetched now.
      if (origin) {
        const base = `refs/heads/${input.baseBranch}`;
        await fetchOrigin(repo, [`+${base}*:${trackingRef(base)}*`, ...missionRefspecs(input.missionId)]);
      }
      if (!baseSha) {
        const baseRef = origin ? trackingRef(`refs/heads/${input.baseBranch}`) : `refs/heads/${input.baseBranch}`;
        baseSha = (await resolveRef(repo, baseRef)) ?? null;
        if (!baseSha) {
          throw ApplicationFailure.nonRetryable(
            `base branch ${input.baseBranch} does not exist in ${origin ?? repo}`,
            ErrorType.BaseMissing,
          );
        }
      }
      const branch = names.integrationBranch(input.missionId);
      // Another host may have held the mission before this one (it was lost): go on from what it pushed.
      if (origin) await adoptMissionRefs(repo, branch, input.missionId, input.runId);
      await ensureBranch(repo, branch, baseSha, input.runId);
      const worktree = path.join(paths.worktreesRoot(config.home, input.missionId, key), 'integration');
      if (input.detached) await ensureDetachedWorktree(repo, worktree, branch);
      else await ensureWorktree(repo, worktree, branch);
      const headSha = input.detached
        ? (await resolveRef(repo, `refs/heads/${branch}`))!
        : (await git(worktree, ['rev-parse', 'HEAD'])).trim();
      return { worktree, branch, baseSha, headSha };
    });
    // Tasks on other hosts start from the integration branch: the origin has it from the start.
    if (origin) await pushTracked(repo, `refs/heads/${result.branch}`);
    const stateDir = path.join(config.home, 'runs', input.missionId, `integration-${key}`);
    await provision(result.worktree, input, stateDir, { onProgress: (p) => beat(p) });
    return result;
  }
}
