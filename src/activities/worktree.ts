/**
 * Branches and worktrees: the integration worktree of a mission and one worktree per task, under
 * `$FLOTILLA_HOME/worktrees/<missionId>/<runKey>/`. Idempotent: a retry after a crash finds the
 * branch and worktree it made and reuses them. A branch Flotilla did not make for this mission run
 * is never taken over: its owner is recorded in git config (`branch.<name>.flotillaRun`).
 */
import { ApplicationFailure } from '@temporalio/activity';
import { copyFileSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SimpleGit } from 'simple-git';
import type { CommandLine } from '../mission/types';
import { names } from '../mission/types';
import { heartbeating, runCommands } from './checks';
import { ActivityConfig, paths } from './config';
import { gitAt, resolveRef, withRepoLock } from './git';

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
}

const runKey = (runId: string): string => runId.replace(/-/g, '').slice(0, 8);

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
     * mission's `copy` files that the worktree lacks, and runs `setup` once per worktree.
     * @throws retryable `SetupFailed` when a setup command fails
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
    const git = await gitAt(input.repo);
    const branch = names.taskBranch(input.missionId, input.taskId);
    const worktree = path.join(
      paths.worktreesRoot(config.home, input.missionId, runKey(input.runId)),
      'tasks',
      input.taskId,
    );
    const created = await withRepoLock(input.repo, async () => {
      await ensureBranch(git, branch, input.baseSha, input.runId);
      return ensureWorktree(git, worktree, branch);
    });
    const stateDir = path.join(
      paths.runDir(config.home, input.missionId, input.taskId),
      `worktree-${runKey(input.runId)}`,
    );
    await provision(worktree, input.repo, input.copy, input.setup, input.setupTimeoutMs, stateDir);
    return { worktree, branch, created };
  }
}
