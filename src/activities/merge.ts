/**
 * Merges finished task branches into the integration worktree, one at a time, `--no-ff` so every
 * task stays one visible merge. Idempotent: a branch already contained in HEAD is reported as
 * merged (a worker that died after the merge commit finishes exactly once); a merge a dead worker
 * left half-done is undone and redone (see {@link recoverInterruptedMerge}).
 */
import { log } from '@temporalio/activity';
import execa from 'execa';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { activityContext, heartbeating } from './checks';
import { git, gitRun, gitSucceeds, resolveRef, withRepoLock } from './git';

/**
 * A git lock file (`index.lock`, `HEAD.lock`, the integration branch's ref lock) older than this,
 * while no git process works in the worktree, was left by a git that was killed (a worker crash
 * kills its git children): it is removed, or every retry would fail on it forever. ms.
 */
export const STALE_GIT_LOCK_MS = 30_000;

export interface MergeInput {
  /** The integration worktree. */
  worktree: string;
  repo: string;
  branch: string;
  taskId: string;
  title: string;
}
export type MergeResult =
  { status: 'merged'; sha: string; alreadyMerged: boolean } | { status: 'conflict'; files: string[]; message: string };

export interface ResetInput {
  worktree: string;
  repo: string;
  /** The SHA the integration branch goes back to. */
  sha: string;
}

async function gitDir(worktree: string): Promise<string> {
  return path.resolve(worktree, (await git(worktree, ['rev-parse', '--git-dir'])).trim());
}

/** git in `dir` with paths taken literally (no pathspec magic); output and exit code, never throws. */
async function gitOut(
  dir: string,
  args: string[],
  input?: string,
): Promise<{ ok: boolean; code: number; out: string }> {
  const r = await execa('git', args, {
    cwd: dir,
    reject: false,
    stripFinalNewline: false,
    env: { GIT_LITERAL_PATHSPECS: '1' },
    ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
  });
  return { ok: r.exitCode === 0, code: r.exitCode ?? 1, out: r.stdout ?? '' };
}

const nulList = (out: string): string[] => out.split('\0').filter(Boolean);

/**
 * PIDs of git processes working in `dir` (their cwd is in it), read from /proc; undefined where
 * there is no /proc to read (then only a lock's age decides).
 */
export function gitProcessesIn(dir: string): number[] | undefined {
  if (!existsSync('/proc/self/cwd')) return undefined;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith('git')) continue;
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(dir + path.sep)) found.push(Number(entry));
    } catch {
      // Exited, or not ours to read.
    }
  }
  return found;
}

/**
 * Removes the git locks a killed git (a worker SIGKILLed with its git children) left in a
 * worktree: `index.lock` and `HEAD.lock` in its own git directory, the checked-out branch's ref
 * lock, and the temporary `.merge_file_*` inputs of a merge driver it ran. Only when no git
 * process works in the worktree (read from /proc; where /proc cannot tell, only with a minimum
 * age) and all are older than `minAgeMs` (default {@link STALE_GIT_LOCK_MS}; 0 where nothing of
 * Flotilla's can be working there, e.g. the task's own commit after its agent ended). A lock
 * that may still be held is left alone: the step then fails on it and Temporal retries it later.
 * @returns the lock files removed
 */
export async function removeStaleLocks(
  worktree: string,
  ownGitDir: string,
  minAgeMs = STALE_GIT_LOCK_MS,
): Promise<string[]> {
  const common = path.resolve(worktree, (await gitOut(worktree, ['rev-parse', '--git-common-dir'])).out.trim());
  const head = await gitOut(worktree, ['symbolic-ref', '-q', 'HEAD']);
  const locks = [path.join(ownGitDir, 'index.lock'), path.join(ownGitDir, 'HEAD.lock')];
  if (head.ok && head.out.trim()) locks.push(path.join(common, `${head.out.trim()}.lock`));
  // The temporary files a killed merge driver's git had made (`git merge-file` inputs).
  for (const f of readdirSync(worktree)) if (/^\.merge_file_\w{6}$/.test(f)) locks.push(path.join(worktree, f));
  const present = locks.filter((f) => existsSync(f));
  if (present.length === 0) return [];
  const now = Date.now();
  if (present.some((f) => now - statSync(f).mtimeMs < minAgeMs)) return [];
  const live = gitProcessesIn(path.resolve(worktree));
  if (live ? live.length > 0 : minAgeMs <= 0) return [];
  for (const f of present) rmSync(f, { force: true });
  return present;
}

/**
 * Undoes what a merge killed before its commit (a worker crash during a `pre-merge-commit` hook,
 * a merge driver or the checkout) left in the integration worktree without a MERGE_HEAD: files
 * staged or written with the merge's result. Only paths the merge of `branch` changes are looked
 * at, and only when every such dirty path holds either HEAD's content or exactly the merge's
 * result (in the index and on disk) are they put back to HEAD: nothing is lost, HEAD and the task
 * branch hold all of it. Anything else (someone's own edits) is left for `git merge` to refuse.
 * @returns the paths restored
 */
async function recoverInterruptedMerge(worktree: string, branch: string): Promise<string[]> {
  const status = await gitOut(worktree, ['status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames']);
  if (!status.ok || !status.out) return [];
  const dirty = new Set(nulList(status.out).map((e) => e.slice(3)));
  // The tree the merge produces (`merge-tree --write-tree`, git >= 2.38; exit 1 = with conflicts).
  const mt = await gitOut(worktree, ['merge-tree', '--write-tree', '--no-messages', 'HEAD', branch]);
  const tree = /^[0-9a-f]{40,64}/.exec(mt.out)?.[0];
  if ((mt.code !== 0 && mt.code !== 1) || !tree) return [];
  const changed = await gitOut(worktree, ['diff', '--no-renames', '--name-only', '-z', 'HEAD', tree]);
  const paths = nulList(changed.out).filter((p) => dirty.has(p));
  if (paths.length === 0) return [];

  const blobs = async (treeish: string): Promise<Map<string, string>> => {
    const r = await gitOut(worktree, ['ls-tree', '-r', '-z', treeish, '--', ...paths]);
    return new Map(
      nulList(r.out).map((e) => [e.slice(e.indexOf('\t') + 1), e.slice(0, e.indexOf('\t')).split(' ')[2]]),
    );
  };
  const inHead = await blobs('HEAD');
  const inMerge = await blobs(tree);
  const index = new Map<string, string>();
  for (const e of nulList((await gitOut(worktree, ['ls-files', '-s', '-z', '--', ...paths])).out)) {
    const [meta, p] = [e.slice(0, e.indexOf('\t')), e.slice(e.indexOf('\t') + 1)];
    const [, oid, stage] = meta.split(' ');
    if (stage !== '0') return []; // conflict stages: not the state a clean merge leaves
    index.set(p, oid);
  }
  const onDisk = paths.filter((p) => {
    try {
      return lstatSync(path.join(worktree, p)).isFile();
    } catch {
      return false;
    }
  });
  if (paths.some((p) => !onDisk.includes(p) && existsSync(path.join(worktree, p)))) return []; // symlinks, dirs
  const hashes = onDisk.length
    ? (await gitOut(worktree, ['hash-object', '--stdin-paths'], onDisk.join('\n') + '\n')).out.trim().split('\n')
    : [];
  const disk = new Map(onDisk.map((p, i) => [p, hashes[i]]));
  const ours = (oid: string | undefined, p: string): boolean => oid === inHead.get(p) || oid === inMerge.get(p);
  if (!paths.every((p) => ours(index.get(p), p) && ours(disk.get(p), p))) return [];

  const tracked = paths.filter((p) => inHead.has(p));
  const added = paths.filter((p) => !inHead.has(p));
  if (tracked.length) await gitOut(worktree, ['checkout', 'HEAD', '--', ...tracked]);
  if (added.length) await gitOut(worktree, ['rm', '-q', '--cached', '--ignore-unmatch', '--', ...added]);
  for (const p of added) rmSync(path.join(worktree, p), { force: true });
  return paths;
}

function warn(message: string, meta: Record<string, unknown>): void {
  if (activityContext()) log.warn(message, meta);
}

export function createMergeActivities() {
  return {
    /**
     * Merges the task branch into the integration worktree (`--no-ff`), under the repository lock,
     * heartbeating every 5 s. A conflict is a result (`status: 'conflict'`, the merge aborted).
     * @throws Error when the task branch is missing or git fails for another reason
     */
    async mergeBranch(input: MergeInput): Promise<MergeResult> {
      return heartbeating(() =>
        withRepoLock(input.repo, async () => {
          const wt = input.worktree;
          const own = await gitDir(input.worktree);
          // What a worker killed in the middle of a merge leaves behind: stale locks first (every
          // git command would fail on them), then a merge in progress, then an uncommitted result.
          const locks = await removeStaleLocks(input.worktree, own);
          if (locks.length) warn('removed git locks left by a killed git', { locks });
          if (existsSync(path.join(own, 'MERGE_HEAD'))) {
            await git(wt, ['merge', '--abort']);
          }
          const restored = await recoverInterruptedMerge(input.worktree, input.branch);
          if (restored.length)
            warn('undid an interrupted merge before merging again', { branch: input.branch, paths: restored });
          const tip = await resolveRef(wt, `refs/heads/${input.branch}`);
          if (!tip) throw new Error(`task branch ${input.branch} does not exist`);
          const contained = await gitSucceeds(input.worktree, ['merge-base', '--is-ancestor', tip, 'HEAD']);
          if (contained)
            return { status: 'merged', sha: (await git(wt, ['rev-parse', 'HEAD'])).trim(), alreadyMerged: true };
          const merge = await gitRun(input.worktree, [
            'merge',
            '--no-ff',
            '--no-edit',
            '-m',
            `flotilla: merge ${input.taskId}: ${input.title}`,
            input.branch,
          ]);
          if (merge.exitCode !== 0) {
            const files = (await git(wt, ['diff', '--name-only', '--diff-filter=U']).catch(() => ''))
              .split('\n')
              .map((f) => f.trim())
              .filter(Boolean);
            if (existsSync(path.join(await gitDir(wt), 'MERGE_HEAD'))) await git(wt, ['merge', '--abort']);
            if (files.length === 0)
              throw new Error(`git merge ${input.branch} failed: ${merge.output.trim().slice(-1000)}`);
            return { status: 'conflict', files, message: `merge conflict in ${files.join(', ')}` };
          }
          return { status: 'merged', sha: (await git(wt, ['rev-parse', 'HEAD'])).trim(), alreadyMerged: false };
        }),
      );
    },

    /**
     * Moves the integration branch back to `sha` (policy `onVerifyFailure: revert`). Heartbeats
     * every 5 s, also while it waits (possibly minutes) for the repository lock: it runs under a
     * short heartbeat timeout.
     * @throws GitError when the reset fails
     */
    async resetIntegration(input: ResetInput): Promise<void> {
      await heartbeating(() =>
        withRepoLock(input.repo, async () => {
          await git(input.worktree, ['reset', '--hard', '--quiet', input.sha]);
        }),
      );
    },
  };
}
