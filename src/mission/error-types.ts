/**
 * The `type` of every ApplicationFailure Flotilla throws, in one place: activities throw them,
 * workflows match on them (`nonRetryableErrorTypes`, rate-limit waits), the client reads
 * `MissionFailed`. Pure, so workflow code may
 * import it. The strings are recorded in workflow histories: never change a value, only add.
 */
export const ErrorType = {
  /** The agent program is not installed (non-retryable; the message says how to install it). */
  AgentNotFound: 'AgentNotFound',
  /** The agent's credentials were refused (non-retryable; the message says what to set). */
  AgentAuth: 'AgentAuth',
  /** The agent's API is rate limited (non-retryable: the workflow waits `retryAfterMs` durably). */
  AgentRateLimited: 'AgentRateLimited',
  /** The agent exited non-zero for another reason (retryable). */
  AgentExit: 'AgentExit',
  /** One attempt ran longer than `agent.timeout` (retryable). */
  AgentTimeout: 'AgentTimeout',
  /** No agent output for `agent.idleTimeout` (retryable). */
  AgentStalled: 'AgentStalled',
  /** The task's worktree vanished; retryable once rebuilt, non-retryable when it cannot be. */
  WorktreeLost: 'WorktreeLost',
  /** HEAD off the task branch or a merge/rebase in progress: committing would lose work (non-retryable). */
  WorktreeState: 'WorktreeState',
  /** The task branch does not hold the commit just made on it (non-retryable). */
  CommitMissing: 'CommitMissing',
  /** A setup command failed (retryable). */
  SetupFailed: 'SetupFailed',
  /** A branch Flotilla would create belongs to another mission run (non-retryable). */
  BranchTaken: 'BranchTaken',
  /** The mission's base branch does not exist (non-retryable). */
  BaseMissing: 'BaseMissing',
  /** The repository is not on the host that took the activity (retryable: another host may take it). */
  RepoNotOnHost: 'RepoNotOnHost',
  /**
   * A worker asked to take a task (`claimTaskHost`) runs as many agents as its `--agents` allows
   * (retryable: another host, or this one later, takes it).
   */
  HostFull: 'HostFull',
  /** A commit a task starts from is not on the mission's origin yet (retryable). */
  OriginBehind: 'OriginBehind',
  /** Thrown by the SDK (not Flotilla) for an activity whose worker shut down while it ran. */
  WorkerShutdown: 'WorkerShutdown',
  /**
   * A compare-and-swap ref update (`git update-ref ref new expected`, the merge queue's candidate
   * ref or integration branch) found the ref holding something else than expected (non-retryable:
   * the workflow's view of the ref is out of date; the message says what the ref holds).
   */
  CandidateMoved: 'CandidateMoved',
  /**
   * The repository lock (`flotilla.lock`) was lost while held: the holder stalled past its stale
   * time and another process took it (retryable: every operation under the lock is safe to redo).
   */
  RepoLockLost: 'RepoLockLost',
  /** The host's git is older than an activity needs (`merge-tree --write-tree`: 2.38; non-retryable). */
  GitTooOld: 'GitTooOld',
  /** The mission ended failed: its workflow fails with details [final progress, carried state]. */
  MissionFailed: 'MissionFailed',
} as const;

export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];
