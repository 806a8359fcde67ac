/**
 * What a mission blocked on a merge conflict tells the person who resolves it (the block's
 * reason: `run`'s exit-3 message, `status`, `status --json`, the Web UI's details): which task
 * conflicts with which, in which files, and the exact commands that resolve it, in the task's
 * worktree. Pure: the workflows write it.
 */
import type { ConflictState } from './progress';
import { shellQuote as q } from './shell-quote';

/** Everything the help names; paths and refs as git and the mission know them. */
export interface ConflictHelp {
  missionId: string;
  /** The task branch (`flotilla/<mission>/tasks/<task>`). */
  branch: string;
  /** The repository (the mission host's). */
  repo: string;
  /** The integration branch's name. */
  integrationBranch: string;
  /**
   * The commit the task's merge went onto: the integration branch's tip, or the candidate holding
   * the merges before it in its batch (then merged by its id, since no branch holds it).
   */
  onto: string;
  /** Whether `onto` is the integration branch's tip. */
  ontoIsIntegration: boolean;
  /**
   * The conflict: its task, files, the merged tasks it is with (may be none), and the worktree that
   * has the task branch checked out on the mission's host, or null (none has: the branch is then
   * checked out in `repo`). git refuses a second checkout of a branch ("is already checked out at
   * …"), so the work happens there.
   */
  conflict: Pick<ConflictState, 'taskId' | 'files' | 'withTasks'> & { worktree?: string | null };
  /** Why the resolver agent did not resolve it (`onMergeConflict: resolve`), or undefined. */
  resolverNote?: string;
  /**
   * The mission has a shared origin (`origin:`): `repo` is the mission host's clone, and the merge
   * queue takes the task branch from the origin, so the fix is pushed there (a fast-forward).
   */
  origin?: boolean;
}

/** `merge conflict with top in f.txt`: the task's error and the first words of the block's reason. */
export function conflictMessage(files: string[], withTasks: string[]): string {
  return `merge conflict${withTasks.length ? ` with ${withTasks.join(', ')}` : ''} in ${files.join(', ')}`;
}

/**
 * The reason of a mission blocked on a task's conflict: a first line (the task, the tasks it
 * conflicts with, the files, the resolver's note), where to work, the commands indented by two
 * spaces (a `#` line is the person's own part: resolving the files), and the `flotilla resume` /
 * `flotilla skip` that go on, in backticks (`nextSteps` lists them). Followed literally, the
 * commands merge what the task's merge went onto into the task branch, in the worktree that has
 * it checked out; `resume` then merges the branch cleanly.
 */
export function conflictReason(h: ConflictHelp): string {
  const { taskId, withTasks, worktree } = h.conflict;
  const files = h.conflict.files.join(', ');
  const why = h.resolverNote === undefined ? '' : `; the resolver agent could not resolve it (${h.resolverNote})`;
  const from = h.ontoIsIntegration ? h.integrationBranch : h.onto;
  const where = worktree
    ? `${h.branch} is checked out in the task's worktree (a \`git checkout\` of it elsewhere fails): resolve it there, merging ${h.ontoIsIntegration ? 'the integration branch' : `${from.slice(0, 12)} (the integration branch with the merges before it in this batch)`} into it:`
    : `resolve it on ${h.branch}, merging ${h.ontoIsIntegration ? 'the integration branch' : from.slice(0, 12)} into it:`;
  const commands = [
    ...(worktree ? [`cd ${q(worktree)}`] : [`cd ${q(h.repo)}`, `git checkout ${q(h.branch)}`]),
    `git merge ${q(from)}`,
    `# edit ${files}: keep both sides' intent, remove the conflict markers`,
    `git add -- ${h.conflict.files.map(q).join(' ')}`,
    'git commit --no-edit',
    ...(h.origin ? [`git push origin ${q(`HEAD:refs/heads/${h.branch}`)}`] : []),
  ];
  return [
    `task ${taskId}: ${conflictMessage(h.conflict.files, withTasks)}${why}`,
    where,
    ...commands.map((c) => `  ${c}`),
    `then \`flotilla resume ${h.missionId}\` (or give the task up: \`flotilla skip ${h.missionId} ${taskId}\`)`,
  ].join('\n');
}
