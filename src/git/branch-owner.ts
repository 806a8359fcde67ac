/**
 * Which mission run owns a branch Flotilla made, recorded where only Flotilla looks: the ref
 * `refs/flotilla/owners/<branch>` (e.g. `refs/flotilla/owners/flotilla/m/tasks/t`), which points
 * at a blob holding the run id and a newline. Never in the repository's config, which is the
 * user's: a failed mission that nobody cleans leaves nothing there. A blob, not a commit, so the
 * record shows in no history (`git log --all` skips refs that are not commits). `flotilla clean`
 * deletes it with its branch (src/client/clean.ts).
 *
 * Missions started by an older Flotilla recorded the owner in git config
 * (`branch.<name>.flotillaRun`); that key is still read (never written), so a run that was going
 * on across the upgrade keeps its branches.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { git, gitCommonDir } from './git';
import { RepoLockHold, removeStaleRefLock } from './repo-lock';

/** The ref that records the owner of `branch` (a short name, `flotilla/<m>/…`). */
export function ownerRef(branch: string): string {
  return `refs/flotilla/owners/${branch}`;
}

/** Where the owners of mission `missionId`'s branches are recorded (a prefix for `for-each-ref`). */
export function ownerRefsOf(missionId: string): string {
  return `refs/flotilla/owners/flotilla/${missionId}/`;
}

/** The config key older Flotilla versions recorded the owner under (read only). */
const legacyKey = (branch: string): string => `branch.${branch}.flotillaRun`;

/**
 * The run id that owns `branch` in the repository whose shared git directory is `commonDir`: the
 * owner ref's blob, else the legacy config key, else null. Synchronous (for runKey's layout check,
 * which runs where no promise can be awaited); two git processes at most.
 */
export function branchOwnerSync(commonDir: string, branch: string): string | null {
  const blob = spawnSync('git', ['--git-dir', commonDir, 'cat-file', 'blob', ownerRef(branch)], {
    encoding: 'utf8',
  });
  if (blob.status === 0 && blob.stdout.trim()) return blob.stdout.trim();
  const legacy = spawnSync('git', ['config', '--file', path.join(commonDir, 'config'), '--get', legacyKey(branch)], {
    encoding: 'utf8',
  });
  return legacy.status === 0 && legacy.stdout.trim() ? legacy.stdout.trim() : null;
}

/** The run id that owns `branch` in `repo` (see {@link branchOwnerSync}), or null. */
export async function branchOwner(repo: string, branch: string): Promise<string | null> {
  return branchOwnerSync(await gitCommonDir(repo), branch);
}

/** Owner blobs written by this process, by repository and run id (see {@link ownerBlob}). */
const blobs = new Map<string, string>();

/**
 * The blob holding `runId` and a newline in `repo` (`git hash-object -w`), written once per
 * repository and run by this process: every branch of a run points at the same blob, and once one
 * owner ref points at it, git's garbage collection keeps it. {@link forgetOwnerBlob} drops it when
 * a ref update that was to point at it failed (the blob may then be unreferenced).
 * @returns the blob's object id
 * @throws GitError when git fails
 */
export async function ownerBlob(repo: string, runId: string): Promise<string> {
  const key = `${repo}\0${runId}`;
  let blob = blobs.get(key);
  if (!blob) {
    blob = (await git(repo, ['hash-object', '-w', '--stdin'], { input: `${runId}\n` })).trim();
    blobs.set(key, blob);
  }
  return blob;
}

/** Forgets the blob {@link ownerBlob} wrote for `runId` in `repo`: the next call writes it again. */
export function forgetOwnerBlob(repo: string, runId: string): void {
  blobs.delete(`${repo}\0${runId}`);
}

/**
 * Records `runId` as the owner of `branch` (`git hash-object -w` of the id, then `git update-ref`
 * of {@link ownerRef}; whatever it held is replaced: call it only for a branch this run is making
 * or taking over). Under the repository lock (`hold`): a ref lock a killed git left is removed.
 * @throws GitError when git fails
 */
export async function recordOwner(repo: string, branch: string, runId: string, hold: RepoLockHold): Promise<void> {
  const blob = await ownerBlob(repo, runId);
  const ref = ownerRef(branch);
  await removeStaleRefLock(repo, ref, hold);
  await git(repo, ['update-ref', '-m', `flotilla: ${branch} is owned by mission run ${runId}`, ref, blob]).catch(
    (err: unknown) => {
      forgetOwnerBlob(repo, runId);
      throw err;
    },
  );
}
