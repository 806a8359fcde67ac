/**
 * Where a worktree's git directories are, read from its files (no git process): a task's
 * activities ask for them several times, and a process each was a good part of their cost.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { git } from './git';

/**
 * The git directories of the worktree whose top level is `worktree`, read from its files the way
 * git finds them (gitrepository-layout(5)): a `.git` directory is both the worktree's own and the
 * common one; a `.git` file `gitdir: <path>` names a linked worktree's own directory
 * (`.git/worktrees/<name>`), whose `commondir` file names the common one, relative to it. No git
 * process; undefined when `worktree` has neither (not a worktree's top level), and callers ask
 * git instead.
 */
export function gitDirsOf(worktree: string): { own: string; common: string } | undefined {
  const dotGit = path.join(worktree, '.git');
  try {
    if (statSync(dotGit).isDirectory()) return { own: dotGit, common: dotGit };
    const m = /^gitdir: (.+)$/m.exec(readFileSync(dotGit, 'utf8'));
    if (!m) return undefined;
    const own = path.resolve(worktree, m[1].trim());
    const commondir = path.join(own, 'commondir');
    const common = existsSync(commondir) ? path.resolve(own, readFileSync(commondir, 'utf8').trim()) : own;
    return { own, common };
  } catch {
    return undefined;
  }
}

/** The worktree's own git directory, absolute ({@link gitDirsOf}, else `git rev-parse --git-dir`). */
export async function worktreeGitDir(worktree: string, env?: Record<string, string>): Promise<string> {
  return (
    gitDirsOf(worktree)?.own ??
    path.resolve(worktree, (await git(worktree, ['rev-parse', '--git-dir'], { env })).trim())
  );
}
