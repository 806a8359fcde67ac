/**
 * `flotilla clean --yes`: removing what a plan (src/client/clean.ts) says, never forced, each
 * branch and stale checkpoint recorded under its archive ref first. Nothing is written to the
 * repository's config.
 */
import { git, GitError, resolveRef } from '../git/git';
import { withRepoLock } from '../git/repo-lock';
import { workIn } from '../git/merged';
import { finishRemoval, removeWorktree } from '../git/worktree-removal';
import { holdersOf } from '../git/worktree-state';
import type { CleanItem, CleanKind, CleanPlan, KeptItem } from './clean';

/** What {@link executeCleanup} did. */
export interface CleanOutcome {
  removed: CleanItem[];
  /** What git refused (someone changed it since the plan), with git's reason. */
  failed: KeptItem[];
}

/**
 * The order removals go in: worktrees before the branches they have checked out, branches before
 * refs, owner records and leases after the refs they are about.
 */
const ORDER: CleanKind[] = [
  'task-worktree',
  'conflict-worktree',
  'task-branch',
  'integration-worktree',
  'integration-branch',
  'candidate-ref',
  'merge-ref',
  'checkpoint-ref',
  'stale-checkpoint-ref',
  'owner-ref',
  'lease-ref',
];

/** A removal this step refuses (something changed since the plan): the reason as it is shown. */
class Refused extends Error {}

/**
 * Removes what the plan says, under the repository's lock (no Flotilla worker changes it
 * meanwhile). Worktrees through worktree-removal.ts (`git worktree remove` without `--force`, or
 * the finish of a removal Flotilla began). A branch's tip is recorded under its archive ref
 * first (a different commit already there: a second one, `<leaf>.<ms>`), then it is deleted by
 * {@link deleteBranch}. A stale checkpoint is archived, then deleted; other refs are deleted with
 * compare-and-swap, an owner record or lease only once the ref it is about is gone. Whatever git
 * refuses is reported, never forced.
 */
export async function executeCleanup(plan: CleanPlan): Promise<CleanOutcome> {
  const { repo } = plan;
  const outcome: CleanOutcome = { removed: [], failed: [] };
  const items = [...plan.remove].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  await withRepoLock(repo, async () => {
    for (const item of items) {
      try {
        await removeItem(repo, item);
        outcome.removed.push(item);
      } catch (err) {
        const why =
          err instanceof Refused
            ? err.message
            : `git refused: ${err instanceof GitError ? err.output.trim().split('\n').pop()! : (err as Error).message}`;
        outcome.failed.push({ ...item, reason: why });
      }
    }
  });
  return outcome;
}

async function removeItem(repo: string, item: CleanItem): Promise<void> {
  if (item.kind.endsWith('-worktree')) {
    const kept = item.finish
      ? await finishRemoval(repo, item.path!, item.pidFiles)
      : await removeWorktree(
          repo,
          item.path!,
          item.removable ?? { reason: null, identicalCopies: [], setupLeftovers: [] },
        );
    if (kept) throw new Refused(kept);
  } else if (item.kind.endsWith('-branch')) {
    item.archive = await archive(repo, item.archive!, item.sha!);
    await deleteBranch(repo, item.name, item.sha!, item.mergedInto!);
  } else {
    if (item.about && (await resolveRef(repo, item.about))) throw new Refused(`kept: ${item.about} is still there`);
    if (item.archive) item.archive = await archive(repo, item.archive, item.sha!);
    await git(repo, ['update-ref', '-d', item.name, item.sha!]);
  }
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

/**
 * Deletes branch `branch` (short name), whose tip `sha` was just archived, after checking again
 * (under the repository lock) what `git branch -d` would, with Flotilla's one rule for "merged"
 * instead of git's (HEAD or the upstream): no worktree uses the branch (`holdersOf`: checked
 * out, rebased or bisected there), and its work is in the commit `mergedInto` holds (`workIn`,
 * src/git/merged.ts: by commit, or by content). Then `git update-ref -d refs/heads/<b>
 * <sha>`: a compare-and-swap on the very tip the check ran on (a branch that moved since is not
 * deleted). Not a forced delete of unmerged work, since the merged check ran first; and unlike
 * `git branch -d` it writes nothing to the repository's config (no upstream to set for the
 * check, no `branch.<b>` section to drop), except that a `branch.<b>` section holding the
 * owner key older Flotilla versions wrote (`flotillaRun`) goes with the branch, as `git branch
 * -d` took it.
 * @throws Refused when the branch is in use or its work is not there; GitError when git fails
 *   (the branch moved)
 */
async function deleteBranch(repo: string, branch: string, sha: string, mergedInto: string): Promise<void> {
  const holders = await holdersOf(repo, branch);
  if (holders.length) throw new Refused(`kept: ${branch} is in use in ${holders[0].path}`);
  const tip = await resolveRef(repo, mergedInto);
  if (!tip || !(await workIn(repo, tip, sha)))
    throw new Refused(`kept: ${branch}'s work is no longer in ${mergedInto}`);
  await git(repo, ['update-ref', '-m', 'flotilla clean', '-d', `refs/heads/${branch}`, sha]);
  const legacy = await git(repo, ['config', '--get', `branch.${branch}.flotillaRun`]).catch(() => '');
  if (legacy.trim()) await git(repo, ['config', '--remove-section', `branch.${branch}`]);
}
