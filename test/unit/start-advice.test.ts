/**
 * A start that finds branches of an earlier mission with its id is refused with advice that keeps
 * their work: another id, or land and clean (which archives each branch it deletes); never a
 * `git branch -D`, which would discard the earlier run's commits.
 */
import type { LoadedMission } from '../../src/mission-file/load';
import { refuseEarlierBranches } from '../../src/client/start';
import { git, makeRepo } from '../helpers/git';

test('earlier branches: refused, named, with advice that discards nothing', async () => {
  const repo = makeRepo();
  git(repo, 'branch', 'flotilla/old/tasks/a');
  const loaded = { file: 'mission.yaml', spec: { id: 'old', repo } } as unknown as LoadedMission;
  const err = (await refuseEarlierBranches(loaded).catch((e: unknown) => e)) as Error & { exitCode?: number };
  expect(err.message).toMatch(/branches of an earlier mission "old" exist/);
  expect(err.message).toMatch(/flotilla\/old\/tasks\/a/);
  expect(err.message).toMatch(/--id old-2.*flotilla land old, then flotilla clean old --yes/);
  expect(err.message).not.toMatch(/branch -D/);
  expect(git(repo, 'branch', '--list', 'flotilla/old/tasks/a')).toContain('flotilla/old/tasks/a');
});

test('no earlier branches: nothing to refuse', async () => {
  const repo = makeRepo();
  const loaded = { file: 'mission.yaml', spec: { id: 'fresh', repo } } as unknown as LoadedMission;
  await expect(refuseEarlierBranches(loaded)).resolves.toBeUndefined();
});
