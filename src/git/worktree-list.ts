/**
 * The repository's worktrees as git lists them (`git worktree list --porcelain -z`,
 * git-worktree(1) "Porcelain Format"), for the one rule of what may be removed
 * (worktree-safety.ts) and `flotilla clean`.
 */
import { git } from './git';

/** One entry of `git worktree list --porcelain`. */
export interface WorktreeEntry {
  /** Absolute path (it may be gone: see `prunable`). */
  path: string;
  /** The commit checked out, or null (a bare entry). */
  head: string | null;
  /** The branch checked out (short name, without `refs/heads/`), or null when detached. */
  branch: string | null;
  /** The repository's main worktree (the first entry): never Flotilla's to remove. */
  main: boolean;
  locked: boolean;
  /** Its folder is gone (`git worktree prune` would drop it). */
  prunable: boolean;
}

/**
 * Every worktree of the repository of `dir`, the main one first.
 * @throws GitError when git fails
 */
export async function listWorktrees(dir: string): Promise<WorktreeEntry[]> {
  const out = await git(dir, ['worktree', 'list', '--porcelain', '-z']);
  const entries: WorktreeEntry[] = [];
  let current: WorktreeEntry | undefined;
  for (const field of out.split('\0')) {
    if (field === '') {
      current = undefined;
      continue;
    }
    const [key, ...rest] = field.split(' ');
    const value = rest.join(' ');
    if (key === 'worktree') {
      current = { path: value, head: null, branch: null, main: entries.length === 0, locked: false, prunable: false };
      entries.push(current);
    } else if (current) {
      if (key === 'HEAD') current.head = value;
      else if (key === 'branch') current.branch = value.replace(/^refs\/heads\//, '');
      else if (key === 'locked') current.locked = true;
      else if (key === 'prunable') current.prunable = true;
    }
  }
  return entries;
}
