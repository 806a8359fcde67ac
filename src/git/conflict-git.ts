/**
 * The git underneath conflict.ts and conflict-check.ts: the merge as `git merge-tree` computes
 * it, the conflict worktree's files, and
 * its removal.
 */
import { HostFailure } from './failure';
import execa from 'execa';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorType } from '../mission/error-types';
import { git, gitCommonDir, gitResult, resolveRef } from './git';
import { mergeTree as queueMergeTree } from './merge-queue';
import { moveAside, ownGitDir } from './worktree-add';
import { CONFLICT_SUFFIX } from './worktree-layout';

/**
 * The untracked, not ignored files a conflict worktree held after `copy` and `setup` (path ->
 * blob id), kept in the worktree's own git directory so it goes with the worktree: they are not
 * the resolver's doing, so `checkResolution` lets them be while they are unchanged.
 */
const BASELINE_FILE = 'flotilla-untracked.json';

export const nul = (out: string): string[] => out.split('\0').filter(Boolean);
export const short = (sha: string | undefined | null): string => (sha ? sha.slice(0, 12) : '(none)');
export const unique = (xs: string[]): string[] => [...new Set(xs)];

/** Up to 10 paths, then how many more. */
export function list(files: string[]): string {
  return files.slice(0, 10).join(', ') + (files.length > 10 ? ` and ${files.length - 10} more` : '');
}

/** The contents of `rev:file` (bytes), or null when the file is not in that commit. */
export async function blobAt(dir: string, rev: string, file: string): Promise<Buffer | null> {
  const r = await execa('git', ['cat-file', 'blob', `${rev}:${file}`], {
    cwd: dir,
    reject: false,
    stdin: 'ignore',
    encoding: null,
    stripFinalNewline: false,
  });
  return r.exitCode === 0 ? (r.stdout as Buffer) : null;
}

/**
 * The merge of `tip` onto `onto` as git computes it without a worktree (merge-queue.ts
 * {@link queueMergeTree}): the resulting tree (conflicted files in it hold markers) and every
 * path that conflicts (empty when it merges cleanly).
 * @throws GitError when git cannot merge them (an unknown commit, unrelated histories)
 */
export async function mergeTree(
  dir: string,
  onto: string,
  tip: string,
): Promise<{ tree: string; conflicted: string[] }> {
  const r = await queueMergeTree(dir, onto, tip);
  return { tree: r.tree, conflicted: r.clean ? [] : r.files };
}

/** Paths with unmerged entries in the worktree's index (`git ls-files -u`). */
export async function unmergedPaths(worktree: string): Promise<string[]> {
  const out = await git(worktree, ['ls-files', '--unmerged', '-z'], { literal: true });
  return unique(nul(out).map((e) => e.slice(e.indexOf('\t') + 1)));
}

/** The worktree's own git directory (`.git/worktrees/<name>`, worktree-add.ts `ownGitDir`). @throws Error when it has none */
export function gitDirOf(worktree: string): string {
  const own = ownGitDir(worktree);
  if (!own) throw new Error(`${worktree} is not a linked worktree (no .git file naming its git directory)`);
  return own;
}

/** Untracked, not ignored files in the worktree with their blob ids. */
export async function untrackedFiles(worktree: string): Promise<Map<string, string>> {
  const files = nul(await git(worktree, ['ls-files', '--others', '--exclude-standard', '-z'], { literal: true }));
  // --stdin-paths reads one path a line: a name with a newline in it cannot be hashed this way.
  const hashable = files.filter((f) => !f.includes('\n'));
  const ids = hashable.length
    ? (await git(worktree, ['hash-object', '--stdin-paths'], { input: hashable.join('\n') + '\n' })).split('\n')
    : [];
  const result = new Map(files.map((f) => [f, '']));
  hashable.forEach((f, i) => result.set(f, ids[i] ?? ''));
  return result;
}

/** Records the worktree's untracked files now (after copy and setup) as not the resolver's. */
export async function writeBaseline(worktree: string): Promise<void> {
  const baseline = Object.fromEntries(await untrackedFiles(worktree));
  writeFileSync(path.join(gitDirOf(worktree), BASELINE_FILE), JSON.stringify(baseline));
}

/** The untracked files recorded by {@link writeBaseline} (path -> blob id); none when unreadable. */
export async function readBaseline(worktree: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(readFileSync(path.join(gitDirOf(worktree), BASELINE_FILE), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

/** Refuses a path that is not a conflict worktree: dropping or committing must never touch a task's worktree. */
export function assertConflictWorktree(worktree: string): void {
  if (!path.isAbsolute(worktree) || !worktree.endsWith(CONFLICT_SUFFIX))
    throw HostFailure.nonRetryable(
      `${worktree} is not a conflict worktree (an absolute path ending in ${CONFLICT_SUFFIX}); refusing to remove it`,
      ErrorType.WorktreeState,
    );
}

/**
 * `-c rerere.enabled=true`, put on the git commands of a conflict worktree that use rerere (the
 * merge replays recorded resolutions, the commit records one, the abort forgets an unfinished
 * one). Never written to the repository's config: that file is the user's (see git-rerere(1);
 * a command-line value wins over the config, so a user's `rerere.enabled=false` stays theirs).
 * git keeps the records in the repository's shared `rr-cache`, which git also reads as "rerere on"
 * where `rerere.enabled` is unset.
 */
export const RERERE = ['-c', 'rerere.enabled=true'] as const;

/** True when `dir` is the top of a worktree of `repo` (`.git` there, same common git directory). */
export async function isWorktreeOf(repo: string, dir: string): Promise<boolean> {
  if (!existsSync(path.join(dir, '.git'))) return false;
  const top = await gitResult(dir, ['rev-parse', '--show-toplevel'], { literal: true });
  const common = await gitResult(dir, ['rev-parse', '--git-common-dir'], { literal: true });
  return (
    top.code === 0 &&
    path.resolve(top.out.trim()) === path.resolve(dir) &&
    common.code === 0 &&
    path.resolve(dir, common.out.trim()) === (await gitCommonDir(repo))
  );
}

/**
 * Removes a conflict worktree: a merge in progress there is aborted first (`git merge --abort`
 * also clears rerere's half-recorded conflicts of that merge), then `git worktree remove --force
 * --force` (twice: also one left locked by a `git worktree add` that was cut short).
 * Forcing is right only for a conflict worktree: what it holds is either committed already (the
 * merge commit) or a rejected or abandoned resolution, whose record is the resolver's transcript;
 * its setup products (ignored files) are rebuilt by the next `prepareConflict`. A directory
 * there that is not a worktree of `repo` is moved aside, never deleted. Call under the repository lock.
 * @returns true when something was removed or moved aside
 */
export async function removeConflictWorktree(repo: string, worktree: string): Promise<boolean> {
  let removed = false;
  if (existsSync(worktree)) {
    if (await isWorktreeOf(repo, worktree)) {
      if (await resolveRef(worktree, 'MERGE_HEAD'))
        await gitResult(worktree, [...RERERE, 'merge', '--abort'], { literal: true });
      const r = await gitResult(repo, ['worktree', 'remove', '--force', '--force', worktree], { literal: true });
      // A worktree git cannot remove (a stale lock, a half-deleted folder): it is ours to delete.
      if (r.code !== 0 || existsSync(worktree)) rmSync(worktree, { recursive: true, force: true });
      await gitResult(repo, ['worktree', 'unlock', worktree], { literal: true });
    } else {
      await moveAside(repo, worktree);
    }
    removed = true;
  }
  await git(repo, ['worktree', 'prune']);
  return removed;
}

/**
 * A merge commit of `branchTip` onto `onto` published on `ref` already (a retry after the worktree
 * was removed): searched on the ref's first-parent history since `onto`.
 */
export async function publishedResolution(
  repo: string,
  ref: string,
  onto: string,
  tip: string,
): Promise<string | null> {
  if (!(await resolveRef(repo, ref))) return null;
  const out = await gitResult(repo, ['rev-list', '--first-parent', '--parents', ref, `^${onto}`], { literal: true });
  if (out.code !== 0) return null;
  for (const line of out.out.split('\n')) {
    const [sha, p1, p2, ...more] = line.trim().split(' ');
    if (sha && p1 === onto && p2 === tip && more.length === 0) return sha;
  }
  return null;
}
