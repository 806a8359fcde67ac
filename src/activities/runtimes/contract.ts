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
