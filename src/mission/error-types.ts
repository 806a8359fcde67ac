/**
 * The `ApplicationFailure` types Flotilla's activities throw, in one place: activities throw them,
 * workflows name them in retry policies (`nonRetryableErrorTypes`) and act on them. Pure (workflow
 * code imports it). The strings are recorded in workflow histories: never change one.
 */
export const ErrorType = {
  /** The agent's program is not installed on the worker (non-retryable). */
  AgentNotFound: 'AgentNotFound',
  /** The agent's credentials were refused (non-retryable: a retry cannot fix them). */
  AgentAuth: 'AgentAuth',
  /** The agent hit a rate limit; details carry `retryAfterMs` (the task waits on a durable timer). */
  AgentRateLimited: 'AgentRateLimited',
  /** The agent exited non-zero for another reason. */
  AgentExit: 'AgentExit',
  /** The agent ran past `timeout`. */
  AgentTimeout: 'AgentTimeout',
  /** The agent printed nothing for `idleTimeout`. */
  AgentStalled: 'AgentStalled',
  /** The task's worktree disappeared; it was rebuilt (retryable) or could not be (non-retryable). */
  WorktreeLost: 'WorktreeLost',
  /** The worktree is in a state whose commit would lose work (e.g. a merge in progress). */
  WorktreeState: 'WorktreeState',
  /** A task or integration branch belongs to another run of the mission. */
  BranchTaken: 'BranchTaken',
  /** The mission's base branch is gone from the repository. */
  BaseMissing: 'BaseMissing',
  /** A `setup` command failed in a new worktree. */
  SetupFailed: 'SetupFailed',
  /** The repository is not on the worker that was asked to use it. */
  RepoNotOnHost: 'RepoNotOnHost',
  /** The mission ended failed: the mission workflow fails with its final progress as details. */
  MissionFailed: 'MissionFailed',
} as const;

export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];
