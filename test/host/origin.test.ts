/**
 * A mission's shared origin with real git (src/git/origin.ts and its hooks): two hosts'
 * clones of one bare origin, a task that moves from one to the other with its agent's own commit
 * and its uncommitted work, the mission's refs taken over by a new mission host, and leases that
 * keep a host presumed dead from overwriting what another host pushed since.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { snapshotWorktree } from '../../src/git/checkpoint';
import { clonePath, cloneOrigin, ensureClone, pushTracked, takeBranchFromOrigin } from '../../src/git/origin';
import { ensureTaskWorktree, type TaskWorktreeInput } from '../../src/git/worktree';
import { names } from '../../src/mission/types';
import { git, makeRepo, tempDir } from '../helpers/git';

const runId = '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee';

function bareOrigin(): string {
  const origin = path.join(tempDir('flotilla-origin-'), 'origin.git');
  git(path.dirname(origin), 'clone', '--quiet', '--bare', makeRepo({ 'README.md': 'base\n' }), origin);
  return origin;
}

function taskInput(repo: string, origin: string, extra: Partial<TaskWorktreeInput> = {}): TaskWorktreeInput {
  return {
    missionId: 'm',
    runId,
    taskId: 'a',
    repo,
    baseSha: git(origin, 'rev-parse', 'main'),
    setup: [],
    copy: [],
    setupTimeoutMs: 60_000,
    ...extra,
  };
}

test('each host clones the origin once, marked as a clone; a user repository is not one', async () => {
  const origin = bareOrigin();
  const home = tempDir('flotilla-home-');
  const [a, b] = await Promise.all([ensureClone(home, origin), ensureClone(home, origin)]);
  expect(a).toBe(clonePath(home, origin));
  expect(b).toBe(a);
  expect(await cloneOrigin(a)).toBe(origin);
  expect(await cloneOrigin(makeRepo())).toBeNull();
  expect(git(a, 'rev-parse', 'refs/remotes/origin/main')).toBe(git(origin, 'rev-parse', 'main'));
});

test("a task moved to another host gets its agent's own commit and its uncommitted work back", async () => {
  const origin = bareOrigin();
  const [homeA, homeB] = [tempDir('flotilla-home-a-'), tempDir('flotilla-home-b-')];
  const [cloneA, cloneB] = [await ensureClone(homeA, origin), await ensureClone(homeB, origin)];
  const branch = names.taskBranch('m', 'a');
  const ref = names.checkpointRef('m', 'a');

  // Host A: the task's branch is on the origin from the start.
  const wtA = await ensureTaskWorktree(homeA, taskInput(cloneA, origin));
  expect(git(origin, 'rev-parse', branch)).toBe(git(origin, 'rev-parse', 'main'));
  // The agent commits once itself, then leaves work uncommitted; a periodic checkpoint records it.
  writeFileSync(path.join(wtA.worktree, 'committed.txt'), 'by the agent\n');
  git(wtA.worktree, 'add', 'committed.txt');
  git(wtA.worktree, 'commit', '--quiet', '-m', 'agent commit');
  writeFileSync(path.join(wtA.worktree, 'wip.txt'), 'not committed\n');
  const snap = await snapshotWorktree({ worktree: wtA.worktree, ref, exclude: [], message: 'ck' });
  // Both reached the origin: the branch with the agent's commit, the checkpoint on top of it.
  expect(git(origin, 'rev-parse', branch)).toBe(git(wtA.worktree, 'rev-parse', 'HEAD'));
  expect(git(origin, 'rev-parse', ref)).toBe(snap.sha);

  // Host A dies. Host B takes the task over from the origin.
  const wtB = await ensureTaskWorktree(homeB, taskInput(cloneB, origin, { fromOrigin: true }));
  expect(wtB.restoredCheckpoint).toBe(snap.sha);
  expect(readFileSync(path.join(wtB.worktree, 'committed.txt'), 'utf8')).toBe('by the agent\n');
  expect(readFileSync(path.join(wtB.worktree, 'wip.txt'), 'utf8')).toBe('not committed\n');
  expect(git(wtB.worktree, 'status', '--porcelain')).toBe('?? wip.txt');

  // B commits the task; the mission's host (a third clone) merges what the origin has.
  const commit = (await new MockActivityEnvironment().run(
    createActivities({ home: homeB, hostQueue: 'q@b' }).checkpoint,
    {
      worktree: wtB.worktree,
      taskId: 'a',
      title: 'a',
      branch,
      baseSha: git(origin, 'rev-parse', 'main'),
      exclude: [],
    },
  )) as { headSha: string };
  expect(git(origin, 'rev-parse', branch)).toBe(commit.headSha);
  const mission = await ensureClone(tempDir('flotilla-home-m-'), origin);
  await takeBranchFromOrigin(mission, branch);
  expect(git(mission, 'rev-parse', branch)).toBe(commit.headSha);

  // Host A comes back from the dead with its old worktree: its stale push is refused (leased on
  // what A last pushed), and the origin keeps B's work.
  writeFileSync(path.join(wtA.worktree, 'stale.txt'), 'late\n');
  git(wtA.worktree, 'add', 'stale.txt');
  git(wtA.worktree, 'commit', '--quiet', '-m', 'stale');
  await expect(pushTracked(wtA.worktree, `refs/heads/${branch}`)).rejects.toThrow(/failed to push/);
  expect(git(origin, 'rev-parse', branch)).toBe(commit.headSha);

  // Placed on A again, the task leaves A's worktree aside (never deleted) and takes the origin's.
  const again = await ensureTaskWorktree(homeA, taskInput(cloneA, origin, { fromOrigin: true }));
  expect(git(again.worktree, 'rev-parse', 'HEAD')).toBe(commit.headSha);
  const aside = readdirSync(path.dirname(again.worktree));
  expect(aside.some((f) => f.startsWith(`${path.basename(again.worktree)}.stale-`))).toBe(true);
  expect(existsSync(path.join(again.worktree, 'stale.txt'))).toBe(false);
});

test('a host presumed lost that fetched since cannot overwrite the task branch or checkpoint another host pushed', async () => {
  const origin = bareOrigin();
  const [homeA, homeB] = [tempDir('flotilla-home-a-'), tempDir('flotilla-home-b-')];
  const [cloneA, cloneB] = [await ensureClone(homeA, origin), await ensureClone(homeB, origin)];
  const branch = names.taskBranch('m', 'a');
  const ref = names.checkpointRef('m', 'a');
  const commitAll = (wt: string, file: string, text: string): void => {
    writeFileSync(path.join(wt, file), text);
    git(wt, 'add', file);
    git(wt, 'commit', '--quiet', '-m', file);
  };

  // Host A works on the task and pushes its branch and a checkpoint.
  const wtA = await ensureTaskWorktree(homeA, taskInput(cloneA, origin));
  commitAll(wtA.worktree, 'a1.txt', 'A\n');
  writeFileSync(path.join(wtA.worktree, 'wip-a.txt'), 'A wip\n');
  await snapshotWorktree({ worktree: wtA.worktree, ref, exclude: [], message: 'ck A' });

  // A is presumed lost; B takes the task over and pushes newer work: a commit and a checkpoint.
  const wtB = await ensureTaskWorktree(homeB, taskInput(cloneB, origin, { fromOrigin: true }));
  commitAll(wtB.worktree, 'b1.txt', 'B\n');
  writeFileSync(path.join(wtB.worktree, 'wip-b.txt'), 'B wip\n');
  const snapB = await snapshotWorktree({ worktree: wtB.worktree, ref, exclude: [], message: 'ck B' });
  const [branchB, ckptB] = [git(origin, 'rev-parse', branch), git(origin, 'rev-parse', ref)];
  expect(branchB).toBe(git(wtB.worktree, 'rev-parse', 'HEAD'));
  expect(ckptB).toBe(snapB.sha);

  // A was only stalled. Its routine work fetches the mission's refs (another task's worktree),
  // which moves its remote-tracking refs to B's work...
  await ensureTaskWorktree(homeA, taskInput(cloneA, origin, { taskId: 'other' }));
  expect(git(cloneA, 'rev-parse', `refs/remotes/origin/${branch}`)).toBe(branchB);
  // ...then its stale agent goes on: a commit, a checkpoint, the task's commit. Every push is refused.
  commitAll(wtA.worktree, 'a2.txt', 'A again\n');
  await expect(snapshotWorktree({ worktree: wtA.worktree, ref, exclude: [], message: 'ck A stale' })).rejects.toThrow(
    /failed to push|rejected/,
  );
  await expect(pushTracked(wtA.worktree, ref)).rejects.toThrow(/failed to push|rejected/);
  await expect(
    new MockActivityEnvironment().run(createActivities({ home: homeA, hostQueue: 'q@a' }).checkpoint, {
      worktree: wtA.worktree,
      taskId: 'a',
      title: 'a',
      branch,
      baseSha: git(origin, 'rev-parse', 'main'),
      exclude: [],
    }),
  ).rejects.toThrow(/failed to push|rejected/);
  // B's work is intact on the origin, and B itself still pushes.
  expect(git(origin, 'rev-parse', branch)).toBe(branchB);
  expect(git(origin, 'rev-parse', ref)).toBe(ckptB);
  commitAll(wtB.worktree, 'b2.txt', 'B again\n');
  await expect(pushTracked(wtB.worktree, `refs/heads/${branch}`)).resolves.toBe(true);
  expect(git(origin, 'rev-parse', branch)).toBe(git(wtB.worktree, 'rev-parse', 'HEAD'));
});
