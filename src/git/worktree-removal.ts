/**
 * Removing a worktree in two phases, so that a crash in the middle of `git worktree remove` never
 * leaves a half-deleted worktree that is kept for good.
 *
 * `git worktree remove` deletes the worktree's files one by one, then its own git directory
 * (`.git/worktrees/<name>/`). Killed in between, it leaves a folder with part of the files (its
 * `.git` file maybe among those gone), which any later check reads as "tracked files deleted" or
 * "not a git worktree" and keeps, with its branch, although Flotilla itself had decided that
 * nothing there could be lost. Once the `.git` file is gone, the next `git worktree prune` (any
 * other worktree's creation runs one) drops git's record of the worktree too.
 *
 * So the decision is recorded before anything is deleted, in a file of Flotilla's own beside the
 * worktree's folder, `<worktree>.removing` (under `$FLOTILLA_HOME/worktrees/`, where neither git
 * nor a prune looks): once the one rule (`whyKeepWorktree`, worktree-safety.ts) let the worktree
 * go. A retry of the merge queue's removal and `flotilla clean` find the marker and finish the
 * removal ({@link finishRemoval}) instead of judging the half-deleted folder again: what is left
 * of it is part of what the rule passed. Only what changed since then is not: a file written
 * after the marker, or an agent running there, keeps the folder.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gitCommonDir, gitRun } from './git';
import { recordedGroup } from '../agents/process';
import { clearForRemoval, KeepVerdict } from './worktree-safety';

/** The suffix of the marker's name: `<worktree>.removing`, beside the worktree's folder. */
export const REMOVING_SUFFIX = '.removing';

/** Where the decision to remove the worktree at `wt` is recorded. */
export const removalMarker = (wt: string): string => `${path.resolve(wt)}${REMOVING_SUFFIX}`;

/** What the marker records (JSON); its modification time is when the decision was made. */
interface Removing {
  /** When the rule passed (ISO-8601). */
  decidedAt: string;
  /** Files Flotilla itself rewrites before the removal (setup's leftovers put back): their times do not count. */
  rewritten: string[];
}

/**
 * The own git directory of the linked worktree at `wt` in `repo`, found from git's side (each
 * `.git/worktrees/<name>/gitdir` holds the absolute path of the worktree's `.git` file,
 * gitrepository-layout(5)), so also when that `.git` file is already deleted; null when git has
 * no worktree there (any more).
 */
export async function worktreeGitDir(repo: string, wt: string): Promise<string | null> {
  const root = path.join(await gitCommonDir(repo), 'worktrees');
  if (!existsSync(root)) return null;
  const want = path.join(path.resolve(wt), '.git');
  for (const name of readdirSync(root)) {
    try {
      if (path.resolve(readFileSync(path.join(root, name, 'gitdir'), 'utf8').trim()) === want)
        return path.join(root, name);
    } catch {
      // Not a worktree's directory (or half written): not the one.
    }
  }
  return null;
}

/** True when Flotilla decided to remove the worktree at `wt` and the removal has not finished. */
export function removalStarted(wt: string): boolean {
  return existsSync(removalMarker(wt));
}

/**
 * Records that the worktree at `wt` is being removed (the marker; see the file's comment), with
 * the files Flotilla itself rewrites before `git worktree remove`.
 */
export function recordRemoval(wt: string, rewritten: string[]): void {
  const record: Removing = { decidedAt: new Date().toISOString(), rewritten };
  writeFileSync(removalMarker(wt), JSON.stringify(record) + '\n');
}

/**
 * Removes worktree `wt`, which `whyKeepWorktree` just let go (`verdict.reason` null): records
 * the decision ({@link recordRemoval}), clears what the verdict found to be nobody's work
 * (`clearForRemoval`), then `git worktree remove` without `--force`, which still refuses a
 * worktree that changed since the check and deletes nothing then (the marker is taken back).
 * Call under the repository lock.
 * @returns null when removed, else why git refused
 * @throws Error when the verdict is not a pass; GitError when git fails otherwise
 */
export async function removeWorktree(repo: string, wt: string, verdict: KeepVerdict): Promise<string | null> {
  if (verdict.reason !== null) throw new Error(`${wt} may not be removed: ${verdict.reason}`);
  recordRemoval(wt, verdict.setupLeftovers);
  await clearForRemoval(wt, verdict);
  const r = await gitRun(repo, ['worktree', 'remove', wt]);
  rmSync(removalMarker(wt), { force: true });
  return r.exitCode === 0 ? null : `git worktree remove refused: ${r.output.trim().slice(-500)}`;
}

/** The first regular file (or link) under `dir` modified after `since` (ms), skipping `skip`; or null. */
function changedSince(dir: string, since: number, skip: Set<string>): string | null {
  const walk = (d: string): string | null => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return null; // deleted meanwhile
    }
    for (const e of entries) {
      const f = path.join(d, e);
      let st;
      try {
        st = lstatSync(f);
      } catch {
        continue;
      }
      const rel = path.relative(dir, f).split(path.sep).join('/');
      // Directories change when git deletes their entries: only files tell about a person's edits.
      if (st.isDirectory()) {
        const found = walk(f);
        if (found) return found;
      } else if (st.mtimeMs > since && !skip.has(rel)) return rel;
    }
    return null;
  };
  return walk(dir);
}

/**
 * Finishes the removal Flotilla started of worktree `wt` ({@link removalStarted}): deletes what
 * is left of its folder, then its own git directory if git still has it, then the marker, as `git
 * worktree remove` would have. Not when something changed since the decision: an agent
 * (`pidFiles`, see pid-file.ts) runs there, or a file there was modified after the marker was
 * written (other than those Flotilla rewrote itself): then the worktree is kept, with the reason.
 * Call under the repository lock.
 * @returns null when removed (also when there was nothing left), else why it is kept
 */
export async function finishRemoval(repo: string, wt: string, pidFiles: string[] = []): Promise<string | null> {
  const marker = removalMarker(wt);
  if (!existsSync(marker)) return 'Flotilla never began to remove it';
  let record: Removing = { decidedAt: '', rewritten: [] };
  try {
    record = JSON.parse(readFileSync(marker, 'utf8')) as Removing;
  } catch {
    // Unreadable: only its time counts.
  }
  for (const f of pidFiles) {
    const pgid = recordedGroup(f);
    if (pgid !== undefined) return `an agent runs in it (process group ${pgid}) although its removal had begun`;
  }
  const since = statSync(marker).mtimeMs;
  const changed = existsSync(wt) ? changedSince(wt, since, new Set(record.rewritten)) : null;
  if (changed) return `its removal had begun, but ${changed} was modified since; left for a person to look at`;
  rmSync(wt, { recursive: true, force: true });
  const own = await worktreeGitDir(repo, wt);
  if (own) rmSync(own, { recursive: true, force: true });
  rmSync(marker, { force: true });
  return null;
}
