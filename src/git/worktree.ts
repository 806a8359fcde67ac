/**
 * Branches and worktrees: the integration worktree of a mission and one worktree per task, under
 * `$FLOTILLA_HOME/worktrees/<missionId>/<runKey>/`. Idempotent: a retry after a crash finds the
 * branch and worktree it made and reuses them. A branch Flotilla did not make for this mission run
 * is never taken over: its owner is recorded under `refs/flotilla/owners/` (branch-owner.ts), never
 * in the repository's config.
 *
 * A task worktree that is gone (deleted, or no longer a worktree) is rebuilt from its task branch
 * plus its latest checkpoint (`refs/flotilla/checkpoints/<missionId>/<taskId>`, see
 * checkpoint.ts): the checkpoint's files come back as uncommitted changes, nothing staged.
 */
import { HostFailure } from './failure';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorType } from '../mission/error-types';
import { withoutUrlCredentials } from '../mission/url-credentials';
import type { CommandLine, NamespaceRequest } from '../mission/types';
import { names } from '../mission/types';
import { refValues, resolveRef } from './git';
import { withRepoLock } from './repo-lock';
import { cloneOrigin, fetchOrigin, missionRefspecs, pushTracked, trackingRef } from './origin';
import { discardHalfProvisioned, forgetSetup, provision, ProvisionOptions } from './provision';
import { adoptMissionRefs, adoptOrigin } from './origin-adopt';
import {
  archiveStaleCheckpoint,
  asideRef,
  ensureBranch,
  ensureDetachedWorktree,
  ensureWorktree,
  restoreCheckpoint,
} from './worktree-git';
import { ADDING_MARKER } from './worktree-add';
import { paths, REBUILD_MARKER, runKey, setupInterrupted, taskStateDir, taskWorktreePath } from './worktree-layout';

export { copyMissionFiles } from './provision';
export type { ProvisionOptions } from './provision';
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
}
export interface PrepareIntegrationResult {
  worktree: string;
  branch: string;
  baseSha: string;
  /** The integration branch's tip (the worktree's HEAD may be elsewhere: see verifyAt). */
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
  /** The task's runtime namespace, which setup runs in (src/agents/namespace.ts); absent: none. */
  namespace?: NamespaceRequest;
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

/**
 * Makes sure the task's branch and worktree exist, provisioned (`copy`, then `setup` once per
 * worktree), and returns them. A worktree that is gone is re-created from the task branch; if the
 * task's checkpoint was taken on the branch's current tip, its files (modified, deleted and
 * untracked ones) are restored into the new worktree without staging or committing anything.
 * A re-created worktree gets `copy` and `setup` again (its setup markers are removed). A worktree
 * whose setup was cut short (see `setupInterrupted`) is deleted and made again the same way, so
 * setup never runs over what an interrupted run of it half made.
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
  const { created, restoredCheckpoint } = await withRepoLock(repo, async (hold) => {
    if (origin) {
      await fetchOrigin(repo, missionRefspecs(input.missionId));
      if (input.fromOrigin)
        await adoptOrigin(repo, { branch, ref, worktree, marker, stateDir, runId: input.runId }, hold);
      if (!(await resolveRef(repo, `${input.baseSha}^{commit}`)))
        throw HostFailure.retryable(
          `the task's base ${input.baseSha.slice(0, 12)} is not on the origin yet (${withoutUrlCredentials(origin)})`,
          ErrorType.OriginBehind,
        );
    }
    // The task branch and its checkpoint, read once for the steps below (one `for-each-ref`).
    const refs = await refValues(repo, [`refs/heads/${branch}`, ref]);
    const tip = refs.get(`refs/heads/${branch}`) ?? null;
    if (!tip) await archiveStaleCheckpoint(repo, ref, hold, refs.get(ref) ?? null);
    await ensureBranch(repo, branch, input.baseSha, input.runId, hold, tip);
    // A setup cut short (its worker stopped or died, a command failed) left a half-made worktree
    // in which no agent has run yet: its branch and checkpoint hold all of the task's work, so it
    // is made again from them, and setup starts over from a clean state.
    if (setupInterrupted(stateDir) && existsSync(worktree)) {
      await discardHalfProvisioned(worktree, stateDir, input.copy, asideRef(ref));
    }
    // The marker makes the restore crash-safe: a retry that finds the new worktree healthy but
    // the marker still there restores the checkpoint it did not get to.
    if (!existsSync(path.join(worktree, '.git'))) {
      mkdirSync(stateDir, { recursive: true });
      writeFileSync(marker, new Date().toISOString());
    }
    const made = await ensureWorktree(repo, worktree, branch, path.join(stateDir, ADDING_MARKER));
    if (!made && !existsSync(marker)) return { created: false, restoredCheckpoint: null };
    // A branch made just now has no checkpoint (a stale one was moved aside above).
    const restored = await restoreCheckpoint(repo, worktree, branch, ref, tip ? undefined : null);
    // A new worktree has none of what setup made in the old one (node_modules, builds).
    forgetSetup(stateDir);
    rmSync(marker, { force: true });
    return { created: made, restoredCheckpoint: restored };
  });
  // The branch exists on the origin from the start, so a host that takes the task over finds it.
  if (origin) await pushTracked(repo, `refs/heads/${branch}`);
  await provision(worktree, input, stateDir, { ...opts, home });
  return { worktree, branch, created, restoredCheckpoint };
}

/**
 * Records the base SHA (first call), creates the integration branch from it and its worktree,
 * under `<home>/worktrees/<missionId>/<runKey>/integration`, then provisions it (`copy`, `setup`
 * once). The worktree's HEAD is detached (at the branch's tip when it is made), so moving the
 * branch with `git update-ref` (publishRef) never leaves a worktree that has it checked out stale;
 * `verifyAt` checks out what it verifies. One that has the branch checked out (a person did
 * `git checkout` there) is detached where it is, nothing lost. In a clone of a shared origin the
 * base comes from the origin and the branch is pushed there.
 * @throws non-retryable `BaseMissing` when the base branch is gone, `BranchTaken` when the
 *   integration branch belongs to another mission run; retryable `SetupFailed`; GitError
 */
export async function prepareIntegration(
  home: string,
  input: PrepareIntegrationInput,
  opts: ProvisionOptions = {},
): Promise<PrepareIntegrationResult> {
  const { repo } = input;
  const key = runKey(input.runId);
  const origin = await cloneOrigin(repo);
  const stateDir = path.join(home, 'runs', input.missionId, `integration-${key}`);
  const result = await withRepoLock(repo, async (hold) => {
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
        throw HostFailure.nonRetryable(
          `base branch ${input.baseBranch} does not exist in ${withoutUrlCredentials(origin ?? repo)}`,
          ErrorType.BaseMissing,
        );
      }
    }
    const branch = names.integrationBranch(input.missionId);
    // Another host may have held the mission before this one (it was lost): go on from what it pushed.
    if (origin) await adoptMissionRefs(repo, branch, input.missionId, input.runId, hold);
    await ensureBranch(repo, branch, baseSha, input.runId, hold);
    const worktree = path.join(paths.worktreesRoot(home, input.missionId, key), 'integration');
    await ensureDetachedWorktree(repo, worktree, branch, path.join(stateDir, ADDING_MARKER));
    return { worktree, branch, baseSha, headSha: (await resolveRef(repo, `refs/heads/${branch}`))! };
  });
  // Tasks on other hosts start from the integration branch: the origin has it from the start.
  if (origin) await pushTracked(repo, `refs/heads/${result.branch}`);
  await provision(result.worktree, input, stateDir, opts);
  return result;
}
