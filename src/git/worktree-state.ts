/**
 * What git is doing in each worktree of a repository: the operation in progress there (merge,
 * rebase, cherry-pick, revert, bisect, am, read from the worktree's own git directory as
 * git-status(1) does) and the branch it uses, counting a branch being rebased or bisected. Rule 2
 * of worktree-safety.ts, and what `flotilla land` and `flotilla clean` tell people.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { shellQuote } from '../mission/shell-quote';
import { gitCommonDir } from './git';
import { ownGitDir } from './worktree-add';
import { listWorktrees, WorktreeEntry } from './worktree-list';

/** A git operation in progress in a worktree. */
export interface Operation {
  /** What git is in the middle of. */
  name: 'merge' | 'rebase' | 'am' | 'cherry-pick' | 'revert' | 'bisect';
  /**
   * The branch the operation works on while HEAD is detached (short name): the branch a rebase
   * rewrites (`rebase-merge/head-name`, `rebase-apply/head-name`) or a bisect returns to
   * (`BISECT_START`). git itself counts such a branch as in use by that worktree (`git branch -f`
   * refuses it); `git worktree list` shows the worktree detached.
   */
  branch: string | null;
}

/** The first line of a file, or null when it cannot be read. */
function firstLine(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').split('\n')[0].trim();
  } catch {
    return null;
  }
}

/** A `refs/heads/x` (or plain `x`, as BISECT_START holds it) as a branch's short name; null for anything else. */
function branchName(ref: string | null): string | null {
  if (!ref || ref === 'detached HEAD' || /^[0-9a-f]{40,64}$/.test(ref)) return null;
  return ref.replace(/^refs\/heads\//, '');
}

/**
 * The git operation in progress in the worktree whose own git directory is `gitDir` (for the main
 * worktree the repository's `.git`, for a linked one `.git/worktrees/<name>`), or null. The files
 * are those git-status(1) and wt-status.c read.
 */
export function operationIn(gitDir: string): Operation | null {
  const has = (f: string): boolean => existsSync(path.join(gitDir, f));
  if (has('rebase-merge'))
    return { name: 'rebase', branch: branchName(firstLine(path.join(gitDir, 'rebase-merge', 'head-name'))) };
  if (has('rebase-apply')) {
    if (has('rebase-apply/applying')) return { name: 'am', branch: null };
    return { name: 'rebase', branch: branchName(firstLine(path.join(gitDir, 'rebase-apply', 'head-name'))) };
  }
  if (has('MERGE_HEAD')) return { name: 'merge', branch: null };
  if (has('CHERRY_PICK_HEAD')) return { name: 'cherry-pick', branch: null };
  if (has('REVERT_HEAD')) return { name: 'revert', branch: null };
  if (has('sequencer')) return { name: 'cherry-pick', branch: null };
  if (has('BISECT_LOG') || has('BISECT_START'))
    return { name: 'bisect', branch: branchName(firstLine(path.join(gitDir, 'BISECT_START'))) };
  return null;
}

/** A worktree with what git is doing there. */
export interface WorktreeState extends WorktreeEntry {
  operation: Operation | null;
  /** The branch the worktree uses: the one checked out, or the one a rebase or bisect there works on. */
  holds: string | null;
}

/**
 * Every worktree of the repository of `dir` (`git worktree list`, the main one first), with the
 * operation in progress in each and the branch each uses, counting a branch being rebased or
 * bisected (which `git worktree list` shows as detached) as used.
 * @throws GitError when git fails
 */
export async function worktreeStates(dir: string): Promise<WorktreeState[]> {
  const common = await gitCommonDir(dir);
  return (await listWorktrees(dir)).map((w) => {
    // The main worktree's is the shared one; a linked one's is named in its `.git` file.
    const gitDir = w.prunable ? null : w.main ? common : ownGitDir(w.path);
    const operation = gitDir ? operationIn(gitDir) : null;
    return { ...w, operation, holds: w.branch ?? operation?.branch ?? null };
  });
}

/**
 * The worktrees (not prunable) that use `branch`: have it checked out, or rebase or bisect it.
 * @throws GitError when git fails
 */
export async function holdersOf(dir: string, branch: string): Promise<WorktreeState[]> {
  return (await worktreeStates(dir)).filter((w) => w.holds === branch && !w.prunable);
}

/** `Operation` for people: "a rebase of main", "a merge". */
export function describeOperation(op: Operation): string {
  const article = op.name === 'am' ? 'an' : 'a';
  return `${article} ${op.name === 'am' ? '`git am`' : op.name}${op.branch ? ` of ${op.branch}` : ''}`;
}

/** How to finish or abandon `op` in `wt`, as commands. */
export function operationAdvice(op: Operation, wt: string): string {
  const c = (args: string): string => `\`git -C ${shellQuote(wt)} ${args}\``;
  switch (op.name) {
    case 'bisect':
      return `end it with ${c('bisect reset')}`;
    case 'merge':
      return `finish it (resolve, then ${c('commit')}) or abandon it with ${c('merge --abort')}`;
    default: {
      const cmd = op.name === 'am' ? 'am' : op.name;
      return `finish it with ${c(`${cmd} --continue`)} or abandon it with ${c(`${cmd} --abort`)}`;
    }
  }
}
