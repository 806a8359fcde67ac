/**
 * The one rule for "may this worktree be removed (or have something else checked out) without
 * losing anything", used by the merge queue's `removeTaskWorktree`, by `flotilla clean`, and
 * (its parts) by `flotilla land`:
 *
 * 1. no agent process runs in it (its PID file names a live group that is still the one that
 *    wrote the file, see pid-file.ts);
 * 2. no git operation is in progress in it (merge, rebase, cherry-pick, revert, bisect, am: what
 *    `git status` reports as in progress, read from the worktree's own git directory);
 * 3. HEAD holds nothing that would be lost: it is on a branch, or a ref that stays holds it (a
 *    branch, a tag, an archive ref `refs/flotilla/archive/...`), or nothing was ever committed in
 *    this worktree (its HEAD reflog holds only checkouts: Flotilla's detached worktrees, which
 *    check out candidates that no ref may hold any more);
 * 4. no tracked file is modified (staged or not) and no untracked file exists other than ignored
 *    ones, the mission's `copy` files identical to the repository's, and what setup made that
 *    nobody changed since (setup-record.ts: setup makes it again).
 */
import { lstatSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { git, gitResult, gitRun } from './git';
import { worktreeGitDir } from './git-dirs';
import { describeOperation, operationIn } from './worktree-state';
import { recordedGroup } from '../agents/process';
import { clearSetupLeftovers, unchangedSinceSetup, withStagedWorktree } from './setup-record';

/** How many paths a reason names before "and N more". */
const SHOWN_PATHS = 5;

const nulList = (out: string): string[] => out.split('\0').filter(Boolean);

/** Up to five paths, then "and N more". */
export function listed(paths: string[]): string {
  const more = paths.length - SHOWN_PATHS;
  return paths.slice(0, SHOWN_PATHS).join(', ') + (more > 0 ? ` and ${more} more` : '');
}

function sameFile(a: string, b: string): boolean {
  try {
    if (!lstatSync(a).isFile() || !lstatSync(b).isFile()) return false;
    return readFileSync(a).equals(readFileSync(b));
  } catch {
    return false;
  }
}

function isFileOrLink(p: string): boolean {
  try {
    return !lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** What `git status` finds in a worktree, sorted by what it means for removing it. */
export interface WorktreeChanges {
  /** Tracked files modified, staged, deleted or unmerged (worktree-relative paths). */
  modified: string[];
  /** Untracked files that are not ignored, other than the `copy` files below. */
  untracked: string[];
  /** Untracked copies of the mission's `copy` files identical to the repository's: nobody's work. */
  identicalCopies: string[];
  /** Untracked copies of `copy` files that differ from the repository's. */
  changedCopies: string[];
  /**
   * What setup made or rewrote and nobody changed since (setup-record.ts `unchangedSinceSetup`):
   * nobody's work, setup makes it again. Not in `modified`/`untracked`. Empty with
   * `untracked: false`.
   */
  setupLeftovers: string[];
}

/**
 * The changes in worktree `wt` (see {@link WorktreeChanges}). The `copy` paths are judged only
 * inside both the repository and the worktree, files only (provisioning copies files), and only
 * when untracked (a tracked one is judged by `git status`). `opts.untracked: false`: tracked
 * files only (`--untracked-files=no`: faster in a person's checkout, whose untracked files no
 * checkout or fast-forward loses).
 * @throws Error when `git status` fails there
 */
export async function worktreeChanges(
  repo: string,
  wt: string,
  copy: string[] = [],
  opts: { untracked?: boolean } = {},
): Promise<WorktreeChanges> {
  const copies = new Map<string, string>(); // worktree-relative path -> the repository's file
  for (const rel of copy) {
    const from = path.resolve(repo, rel);
    const to = path.resolve(wt, rel);
    if (!from.startsWith(repo + path.sep) || !to.startsWith(wt + path.sep)) continue;
    if (!isFileOrLink(to)) continue;
    copies.set(path.relative(wt, to).split(path.sep).join('/'), from);
  }
  const tracked = copies.size
    ? new Set(nulList((await gitResult(wt, ['ls-files', '-z', '--', ...copies.keys()], { literal: true })).out))
    : new Set<string>();
  const result: WorktreeChanges = {
    modified: [],
    untracked: [],
    identicalCopies: [],
    changedCopies: [],
    setupLeftovers: [],
  };
  for (const [rel, from] of copies) {
    if (tracked.has(rel)) continue;
    if (sameFile(path.join(wt, rel), from)) result.identicalCopies.push(rel);
    else result.changedCopies.push(rel);
  }
  // Ignored files (what setup made) are not listed: `git worktree remove` deletes them.
  const untracked = opts.untracked === false ? '--untracked-files=no' : '--untracked-files=all';
  const status = await gitResult(wt, ['status', '--porcelain=v1', '-z', untracked, '--no-renames'], { literal: true });
  if (status.code !== 0) throw new Error(`git status failed in ${wt}`);
  const copyPaths = new Set(copies.keys());
  const fromSetup = new Set(
    opts.untracked === false
      ? []
      : (await withStagedWorktree(wt, { exclude: copy }, (env) => unchangedSinceSetup(wt, env))).map((u) => u.path),
  );
  for (const e of nulList(status.out)) {
    const [code, file] = [e.slice(0, 2), e.slice(3)];
    if (fromSetup.has(file)) result.setupLeftovers.push(file);
    else if (code !== '??') result.modified.push(file);
    else if (!copyPaths.has(file)) result.untracked.push(file);
  }
  return result;
}

/** `changes` as a reason to keep the worktree, or null when there is none. */
export function describeChanges(changes: WorktreeChanges): string | null {
  const parts: string[] = [];
  if (changes.modified.length) parts.push(`modified: ${listed(changes.modified)}`);
  if (changes.untracked.length) parts.push(`untracked: ${listed(changes.untracked)}`);
  const reasons: string[] = [];
  if (parts.length) reasons.push(`uncommitted changes (${parts.join('; ')})`);
  if (changes.changedCopies.length)
    reasons.push(`copy files that differ from the repository's: ${listed(changes.changedCopies)}`);
  return reasons.length ? reasons.join('; ') : null;
}

/** The refs whose commits stay when Flotilla cleans up: branches (archived first), tags, archives. */
const REFS_THAT_STAY = ['refs/heads', 'refs/tags', 'refs/flotilla/archive'];

/**
 * Why moving worktree `wt`'s HEAD away (or removing the worktree) could lose commits, or null
 * when it cannot: HEAD is on a branch; or every commit made in this worktree is held by a ref
 * that stays. The commits made here are those its HEAD reflog records as made by something other
 * than a checkout (`commit`, `merge`, `rebase`, `cherry-pick`, `reset`, ...); without a reflog,
 * HEAD itself. So a Flotilla worktree that only ever checked out commits (candidates that no ref
 * may hold any more) may go, and one where a person committed on a detached HEAD stays.
 */
export async function headAtRisk(wt: string, gitDir?: string): Promise<string | null> {
  if (await onRef(wt, gitDir)) return null;
  const reflog = await gitResult(wt, ['reflog', 'show', '--format=%H %gs', 'HEAD', '--'], { literal: true });
  const entries = reflog.code === 0 ? reflog.out.split('\n').filter((l) => l.trim() !== '') : [];
  const made = entries
    .map((l) => ({ sha: l.slice(0, l.indexOf(' ')), subject: l.slice(l.indexOf(' ') + 1) }))
    // The worktree's creation has an empty subject (`git worktree add`).
    .filter((e) => e.sha && e.subject.trim() !== '' && !e.subject.startsWith('checkout: '))
    .map((e) => e.sha);
  const atRisk = entries.length ? [...new Set(made)] : ['HEAD'];
  if (atRisk.length === 0) return null;
  const unheld = await gitResult(
    wt,
    ['rev-list', '--max-count=1', ...atRisk, '--not', ...REFS_THAT_STAY.map((r) => `--glob=${r}/*`)],
    { literal: true },
  );
  if (unheld.code === 0 && unheld.out.trim() === '') return null;
  const head = (await git(wt, ['rev-parse', 'HEAD'])).trim();
  const lost = unheld.out.trim() || head;
  return lost === head
    ? `HEAD is detached at ${head.slice(0, 12)}, a commit no branch holds (nor a tag or archive ref)`
    : `HEAD is detached at ${head.slice(0, 12)}, and ${lost.slice(0, 12)}, a commit made in it, is held by no branch (nor a tag or archive ref)`;
}

/**
 * Whether HEAD of worktree `wt` is a symbolic ref (on a branch, born or not): what `git
 * symbolic-ref --quiet HEAD` answers. With the worktree's own git directory known, read from its
 * `HEAD` file (`ref: refs/heads/…`, see gitrepository-layout(5)) without starting git, except in a
 * repository using the reftable backend, whose `HEAD` file is the stub `ref: refs/heads/.invalid`.
 */
async function onRef(wt: string, gitDir?: string): Promise<boolean> {
  if (gitDir) {
    try {
      const head = readFileSync(path.join(gitDir, 'HEAD'), 'utf8');
      // The reftable backend (git >= 2.45) leaves this stub there; the real HEAD is in its tables.
      if (!head.startsWith('ref: refs/heads/.invalid')) return head.startsWith('ref: ');
    } catch {
      // Unreadable: ask git below.
    }
  }
  return (await gitRun(wt, ['symbolic-ref', '--quiet', 'HEAD'])).exitCode === 0;
}

/** The agent process group a PID file names, when it still runs (pid-file.ts), and the file. */
function liveAgent(pidFiles: string[]): number | undefined {
  for (const f of pidFiles) {
    const pgid = recordedGroup(f);
    if (pgid !== undefined) return pgid;
  }
  return undefined;
}

/** What {@link whyKeepWorktree} judges. */
export interface KeepCheck {
  /** The repository's main worktree (`copy` files are compared with its files). */
  repo: string;
  worktree: string;
  /** The mission's `copy` files (relative to the repository). */
  copy?: string[];
  /** PID files of the agents that may run in the worktree (`agent.pid` of the task or its resolver). */
  pidFiles?: string[];
}

/** What {@link whyKeepWorktree} decides: why to keep the worktree, or what to clear before removing it. */
export interface KeepVerdict {
  /** Why the worktree must stay, or null when removing it loses nothing. */
  reason: string | null;
  /** Identical `copy` files (worktree-relative), deleted before `git worktree remove`. */
  identicalCopies: string[];
  /** What setup made that nobody changed since (worktree-relative), cleared before it. */
  setupLeftovers: string[];
}

/**
 * THE rule (see the file's comment): why worktree `check.worktree` must be kept, or null when
 * removing it loses nothing. Also returns what nobody's work is there (identical `copy` files,
 * setup's leftovers), for {@link clearForRemoval} before `git worktree remove` (which refuses
 * untracked and modified files).
 * @throws GitError when git fails in it
 */
export async function whyKeepWorktree(check: KeepCheck): Promise<KeepVerdict> {
  const wt = check.worktree;
  const keep = (reason: string): KeepVerdict => ({ reason, identicalCopies: [], setupLeftovers: [] });
  const pgid = liveAgent(check.pidFiles ?? []);
  if (pgid) return keep(`an agent still runs in it (process group ${pgid})`);
  const gitDir = await worktreeGitDir(wt);
  const op = operationIn(gitDir);
  if (op) return keep(`${describeOperation(op)} is in progress in it`);
  const head = await headAtRisk(wt, gitDir);
  if (head) return keep(head);
  let changes: WorktreeChanges;
  try {
    changes = await worktreeChanges(check.repo, wt, check.copy ?? []);
  } catch {
    return keep('git status failed in it');
  }
  const reason = describeChanges(changes);
  if (reason) return keep(reason);
  return { reason: null, identicalCopies: changes.identicalCopies, setupLeftovers: changes.setupLeftovers };
}

/**
 * Clears what {@link whyKeepWorktree} found to be nobody's work in worktree `wt` (identical
 * `copy` files deleted, setup's leftovers put back to their state before setup), so that `git
 * worktree remove` without `--force` accepts it. Only for a worktree about to be removed.
 * @throws GitError when git fails
 */
export async function clearForRemoval(wt: string, verdict: KeepVerdict): Promise<void> {
  for (const rel of verdict.identicalCopies) rmSync(path.join(wt, rel), { force: true });
  await clearSetupLeftovers(wt, verdict.setupLeftovers);
}
