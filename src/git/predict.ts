/**
 * Live conflict prediction between the running tasks of a mission, from their latest work in git
 * (checkpoint ref, else task branch): which pairs would conflict if merged now, and which pending
 * tasks' `touches` globs match files a running task has changed. Read-only (merge-tree writes
 * only unreferenced objects, which `git gc` prunes) and cheap enough to run every minute.
 */
import picomatch from 'picomatch';
import { git, requireGitVersion, resolveRef } from './git';
import { withRepoLock } from './repo-lock';
import { cloneOrigin, fetchOrigin, missionRefspecs, trackingRef } from './origin';
import { mergeTree, MERGE_TREE_FEATURE } from './merge-queue';
import type { PredictConflictsInput, PredictConflictsResult } from './merge-queue-types';

/**
 * A matcher for `touches` globs, as `touches:` means them (src/mission/touches.ts): a path
 * matches when it, or a directory above it, matches a glob (a directory stands for everything
 * under it); dot files included, a leading `./` and trailing `/` ignored.
 */
export function touchesMatcher(globs: string[]): (file: string) => boolean {
  const norm = globs.map((g) => g.replace(/^\.\//, '').replace(/\/+$/, '')).filter(Boolean);
  if (norm.length === 0) return () => false;
  const isMatch = picomatch(norm, { dot: true });
  return (file) => {
    const parts = file.split('/');
    for (let n = parts.length; n > 0; n--) if (isMatch(parts.slice(0, n).join('/'))) return true;
    return false;
  };
}

/**
 * Predicts conflicts among `input.running` and which of `input.pending` should wait:
 * - each running task's commit is the first of its `refs` that resolves (a task with none has no
 *   work yet and is left out);
 * - `conflicts`: every pair (in input order, `a` before `b`) for which `git merge-tree
 *   --write-tree --name-only -z --no-messages a b` exits 1, with the conflicted paths; pairs at
 *   the same commit are skipped; custom merge drivers are not run (a prediction must stay cheap and
 *   free of side effects), so the files they manage count as merging cleanly;
 * - `waitFor`: pending task id -> the running tasks whose changed files (`git diff --name-only
 *   base...<commit>`: changes since the merge base with `base`, i.e. the task's own work even
 *   when it branched from an older integration commit; renames as delete plus add) match any of
 *   its `touches` globs ({@link touchesMatcher}). Only pending tasks that wait on something are
 *   present.
 * @throws non-retryable `GitTooOld` (git < 2.38); GitError when git fails (e.g. `base` unknown)
 */
export async function predictConflicts(
  input: PredictConflictsInput,
  beat: () => void = () => undefined,
): Promise<PredictConflictsResult> {
  const { repo } = input;
  await requireGitVersion(2, 38, MERGE_TREE_FEATURE);
  // A clone of a shared origin: the running tasks are on other hosts, which pushed their refs.
  const origin = await cloneOrigin(repo);
  if (origin) {
    const missions = new Set(
      input.running.flatMap((t) => t.refs.map((r) => /^refs\/flotilla\/checkpoints\/([^/]+)\//.exec(r)?.[1] ?? '')),
    );
    missions.delete('');
    if (missions.size) await withRepoLock(repo, () => fetchOrigin(repo, [...missions].flatMap(missionRefspecs)));
  }
  const tips: Array<{ taskId: string; sha: string }> = [];
  for (const t of input.running) {
    for (const ref of t.refs) {
      const sha = (origin ? await resolveRef(repo, trackingRef(ref)) : undefined) ?? (await resolveRef(repo, ref));
      if (sha) {
        tips.push({ taskId: t.taskId, sha });
        break;
      }
    }
  }

  const conflicts: PredictConflictsResult['conflicts'] = [];
  for (let i = 0; i < tips.length; i++) {
    for (let j = i + 1; j < tips.length; j++) {
      const [a, b] = [tips[i], tips[j]];
      if (a.sha === b.sha) continue;
      const r = await mergeTree(repo, a.sha, b.sha, { drivers: false });
      if (!r.clean) conflicts.push({ a: a.taskId, b: b.taskId, files: r.files });
      beat();
    }
  }

  const waitFor: Record<string, string[]> = {};
  const waiting = input.pending.filter((p) => p.touches.length > 0);
  if (waiting.length > 0) {
    const changed = new Map<string, string[]>();
    for (const t of tips) {
      const out = await git(repo, ['diff', '--name-only', '-z', '--no-renames', `${input.base}...${t.sha}`, '--']);
      changed.set(t.taskId, out.split('\0').filter(Boolean));
      beat();
    }
    for (const p of waiting) {
      const matches = touchesMatcher(p.touches);
      const on = tips.filter((t) => changed.get(t.taskId)!.some(matches)).map((t) => t.taskId);
      if (on.length) waitFor[p.taskId] = on;
    }
  }
  return { conflicts, waitFor };
}
