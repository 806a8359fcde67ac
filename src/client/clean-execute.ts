/**
 * `flotilla clean --yes`: removing what a plan (src/client/clean.ts) says, never forced, each
 * branch recorded under its archive ref first.
 */
import { git, GitError, resolveRef, withRepoLock } from '../activities/git';
import { clearForRemoval } from '../activities/worktree-safety';
import type { CleanItem, CleanKind, CleanPlan, KeptItem } from './clean';

/** What {@link executeCleanup} did. */
export interface CleanOutcome {
  removed: CleanItem[];
  /** What git refused (someone changed it since the plan), with git's reason. */
  failed: KeptItem[];
}

/** The order removals go in: worktrees before the branches they have checked out, branches before refs. */
const ORDER: CleanKind[] = [
  'task-worktree',
  'conflict-worktree',
  'task-branch',
  'integration-worktree',
  'integration-branch',
  'candidate-ref',
  'checkpoint-ref',
];

/**
 * Removes what the plan says, under the repository's lock (no Flotilla worker changes it
 * meanwhile). A branch's tip is recorded under its archive ref first (a different commit already
 * there: a second one, `<leaf>.<ms>`); `git branch -d` then deletes it, told (as its upstream)
 * the ref that holds its tip so that its own merged check runs against it; a branch whose work
 * is there by patch only is checked against its archive ref. Refs are deleted with
 * compare-and-swap. Whatever git refuses is reported, never forced.
 */
export async function executeCleanup(plan: CleanPlan): Promise<CleanOutcome> {
  const { repo } = plan;
  const outcome: CleanOutcome = { removed: [], failed: [] };
  const items = [...plan.remove].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  await withRepoLock(repo, async () => {
    for (const item of items) {
      try {
        if (item.kind.endsWith('-worktree')) {
          if (item.removable) await clearForRemoval(item.path!, item.removable);
          await git(repo, ['worktree', 'remove', item.path!]);
        } else if (item.kind.endsWith('-branch')) {
          const archived = await archive(repo, item.archive!, item.sha!);
          item.archive = archived;
          await deleteBranch(repo, item.name, item.mergedInto ?? archived);
        } else {
          await git(repo, ['update-ref', '-d', item.name, item.sha!]);
        }
        outcome.removed.push(item);
      } catch (err) {
        const why = err instanceof GitError ? err.output.trim().split('\n').pop()! : (err as Error).message;
        outcome.failed.push({ ...item, reason: `git refused: ${why}` });
      }
    }
  });
  return outcome;
}

/** Records `sha` under `ref` (or `<ref>.<ms>` when `ref` holds another commit). @returns the ref used */
async function archive(repo: string, ref: string, sha: string): Promise<string> {
  const there = await resolveRef(repo, ref);
  if (there === sha) return ref;
  // Task ids have no dots, so `<leaf>.<ms>` never collides with another task's archive.
  const name = there ? `${ref}.${Date.now()}` : ref;
  // The empty old value: create it, never overwrite.
  await git(repo, ['update-ref', '-m', 'flotilla clean: archive before deleting the branch', name, sha, '']);
  return name;
}

/** `git branch -d` with `upstream` as the branch's upstream for its merged check (the config goes with the branch). */
async function deleteBranch(repo: string, branch: string, upstream: string): Promise<void> {
  await git(repo, ['config', `branch.${branch}.remote`, '.']);
  await git(repo, ['config', `branch.${branch}.merge`, upstream]);
  try {
    await git(repo, ['branch', '-d', branch]);
  } catch (err) {
    await git(repo, ['config', '--unset', `branch.${branch}.remote`]).catch(() => undefined);
    await git(repo, ['config', '--unset', `branch.${branch}.merge`]).catch(() => undefined);
    throw err;
  }
}
