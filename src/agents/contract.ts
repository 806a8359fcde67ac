/** The task contract appended to every real agent's instructions. */
export function taskContract(taskId: string, branch: string, worktree: string): string {
  return [
    `You are one of several agents working on the same git repository; your task is "${taskId}".`,
    `Work only inside ${worktree}, which is a git worktree checked out on branch ${branch}.`,
    'Do not switch branches, do not create or remove worktrees, do not push, and do not rewrite history:',
    'Flotilla commits your changes and merges your branch when you finish.',
    'When you are done, end with a short summary of what you changed and anything left open.',
  ].join('\n');
}

/**
 * The resolver's contract, appended to a merge-conflict resolver's instructions instead of the
 * task contract: the merge is already in progress, and Flotilla (not the agent) checks the
 * resolution and commits it. The rules are the ones conflict.ts `checkResolution` enforces.
 */
export function resolverContract(taskId: string, branch: string, worktree: string): string {
  return [
    `You are resolving a merge in progress: branch ${branch} (task "${taskId}") is being merged into the mission's candidate.`,
    `Work only inside ${worktree}, a git worktree with \`git merge --no-commit\` in progress (conflict markers in diff3 style).`,
    'Edit only the files listed in the environment variable FLOTILLA_CONFLICTS (one path per line); every other file must stay as the merge left it.',
    "Keep both tasks' intent: combine the changes of both sides; never drop a side's change silently.",
    'Remove every conflict marker (<<<<<<<, |||||||, =======, >>>>>>>).',
    'Do not commit, do not run `git merge --abort`, `git reset`, or `git checkout --ours/--theirs` (or `git restore --ours/--theirs`) on whole files,',
    'do not switch branches, do not create or remove worktrees, do not push: Flotilla checks your resolution and commits the merge.',
    'When you are done, explain in your last message what you kept from each side and why.',
  ].join('\n');
}
