/**
 * Heartbeats: activities that wait for the repository lock heartbeat while they wait, and a
 * worktree rebuild's setup commands inside runAgent report through the agent's heartbeat, never
 * with details of their own that a retry would read as the agent's.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { withRepoLock } from '../../src/git/repo-lock';
import { git, makeRepo, tempDir } from '../helpers/git';
import { bashAgent } from '../helpers/missions';
import { integrationInput, worktreeInput } from '../helpers/activities';

const home = tempDir('flotilla-home-');
const acts = createActivities({ home, hostQueue: 'q@test' });
const runId = '0190dddd-bbbb-7ccc-8ddd-eeeeeeeeeeee';

/** Runs an activity in `env` (MockActivityEnvironment.run loses the return type). */
function inEnv<A extends unknown[], R>(
  env: MockActivityEnvironment,
  fn: (...a: A) => Promise<R>,
  ...args: A
): Promise<R> {
  return env.run(fn, ...args) as Promise<R>;
}

test('prepareIntegration heartbeats while another holder keeps the repository lock', async () => {
  const repo = makeRepo();
  let releasedAt = 0;
  let held!: () => void;
  const holding = new Promise<void>((r) => (held = r));
  const holder = withRepoLock(repo, async () => {
    held();
    await new Promise((r) => setTimeout(r, 6000));
    releasedAt = Date.now();
  });
  await holding;
  const env = new MockActivityEnvironment();
  const beats: number[] = [];
  env.on('heartbeat', () => beats.push(Date.now()));
  const integ = await inEnv(env, acts.prepareIntegration, integrationInput(repo, 'r', { runId }));
  await holder;
  expect(integ.headSha).toBe(git(repo, 'rev-parse', 'main'));
  // At least one beat at the start and one ~5 s later, both while the lock was held elsewhere.
  expect(beats.filter((t) => t < releasedAt).length).toBeGreaterThanOrEqual(2);
}, 30_000);

test("a worktree rebuilt inside runAgent runs setup without overwriting the agent's heartbeat details", async () => {
  const repo = makeRepo();
  const prep = worktreeInput(repo, 'hb', 'rb', git(repo, 'rev-parse', 'main'), { runId, setup: ['sleep 2.5'] });
  const wt = await inEnv(new MockActivityEnvironment(), acts.prepareWorktree, prep);
  rmSync(wt.worktree, { recursive: true, force: true });
  const env = new MockActivityEnvironment();
  const details: unknown[] = [];
  env.on('heartbeat', (d: unknown) => details.push(d));
  const r = await inEnv(env, acts.runAgent, {
    missionId: 'hb',
    taskId: 'rb',
    worktree: wt.worktree,
    branch: wt.branch,
    baseSha: prep.baseSha,
    agent: bashAgent('echo rebuilt-and-ran'),
    prompt: 'p',
    taskPrompt: 'p',
    iteration: 1,
    repo,
    runId,
    exclude: [],
    setup: prep.setup,
    setupTimeoutMs: 60_000,
  });
  expect(r.summary).toBe('rebuilt-and-ran');
  expect(path.dirname(r.transcript)).toContain(path.join('runs', 'hb', 'rb'));
  expect(details.length).toBeGreaterThanOrEqual(3);
  for (const d of details) expect(d).toMatchObject({ attempt: 1, sessionId: null, costUsd: 0 });
  expect(details.some((d) => (d as { command?: string }).command !== undefined)).toBe(false);
});
