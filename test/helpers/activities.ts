/**
 * Calling activities directly in tests, outside a worker: each call in a fresh
 * MockActivityEnvironment (heartbeats and cancellation as a worker would give them), and the
 * inputs the mission workflow passes to the worktree activities, with the defaults a test
 * does not care about.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import type { PrepareIntegrationInput, PrepareWorktreeInput } from '../../src/activities/worktree';

/** A mission's first run id (a UUIDv7, as Temporal makes them): the owner of its branches. */
export const RUN_ID = '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee';

/** Runs activity `fn` on `args` in a fresh mock context (MockActivityEnvironment.run loses the return type). */
export function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args) as Promise<R>;
}

/** `prepareIntegration`'s input for a mission on `repo` based on main, no setup, run {@link RUN_ID}; `extra` on top. */
export function integrationInput(
  repo: string,
  missionId: string,
  extra: Partial<PrepareIntegrationInput> = {},
): PrepareIntegrationInput {
  return {
    missionId,
    runId: RUN_ID,
    repo,
    baseBranch: 'main',
    baseSha: null,
    setup: [],
    copy: [],
    setupTimeoutMs: 60_000,
    ...extra,
  };
}

/** `prepareWorktree`'s input for task `taskId` starting at `baseSha`, no setup, run {@link RUN_ID}; `extra` on top. */
export function worktreeInput(
  repo: string,
  missionId: string,
  taskId: string,
  baseSha: string,
  extra: Partial<PrepareWorktreeInput> = {},
): PrepareWorktreeInput {
  return { missionId, runId: RUN_ID, taskId, repo, baseSha, setup: [], copy: [], setupTimeoutMs: 60_000, ...extra };
}
