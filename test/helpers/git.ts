/** Real git repositories in temp dirs for tests. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...args], {
    cwd: dir,
    encoding: 'utf8',
  }).trim();
}

export function tempDir(prefix = 'flotilla-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A repository on `main` with one commit holding `files` (path -> content). */
export function makeRepo(files: Record<string, string> = { 'README.md': '# test\n' }): string {
  const dir = tempDir('flotilla-repo-');
  git(dir, 'init', '--quiet', '--initial-branch', 'main');
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  git(dir, 'add', '--all');
  git(dir, 'commit', '--quiet', '-m', 'initial');
  return dir;
}

/** Writes `file` in `repo`'s checkout and commits it. @returns the new commit */
export function commitFile(repo: string, file: string, content: string, message: string): string {
  writeFileSync(path.join(repo, file), content);
  git(repo, 'add', file);
  git(repo, 'commit', '--quiet', '-m', message);
  return git(repo, 'rev-parse', 'HEAD');
}

/**
 * A task branch whose last commit merges `other` (already in the integration branch) and adds
 * extra.txt in that merge commit itself (a conflict resolved while merging), and an integration
 * branch that took the task's own commit by cherry-pick: every non-merge commit of the branch is
 * there by patch, but extra.txt is not. Returns the repository and the integration tip.
 */
export function mergeOnlyWork(): { repo: string; integration: string; branch: string } {
  const repo = makeRepo();
  const branch = 'flotilla/m/tasks/t';
  git(repo, 'checkout', '--quiet', '-b', 'other', 'main');
  commitFile(repo, 'other.txt', 'other\n', 'other work');
  git(repo, 'checkout', '--quiet', '-b', branch, 'main');
  commitFile(repo, 't.txt', 't\n', 'work of t');
  git(repo, 'merge', '--quiet', '--no-ff', '--no-commit', 'other');
  writeFileSync(path.join(repo, 'extra.txt'), 'only in the merge commit\n');
  git(repo, 'add', 'extra.txt');
  git(repo, 'commit', '--quiet', '--no-edit');
  git(repo, 'checkout', '--quiet', '-b', 'flotilla/m/integration', 'main');
  git(repo, 'merge', '--quiet', '--no-ff', '-m', 'merge other', 'other');
  git(repo, 'cherry-pick', `${branch}^1`);
  const integration = git(repo, 'rev-parse', 'HEAD');
  git(repo, 'checkout', '--quiet', 'main');
  return { repo, integration, branch };
}
