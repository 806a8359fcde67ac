/**
 * The shapes of one agent attempt, as the `runAgent` activity (src/activities/agent.ts) takes and
 * reports them: its input, result, heartbeat details and failure details. They are recorded in
 * workflow histories: add optional fields only.
 */
import type { Diffstat } from '../mission/progress';
import type { AgentUsage } from '../mission/usage';
import type { AgentSpec, CommandLine } from '../mission/types';
import type { NamespaceRequest } from '../mission/types';
import type { AgentRole } from './paths';

export type { AgentUsage };

/**
 * Where the agent library logs (structured: a message and its attributes). An activity passes its
 * `Context.current().log`; anything with these three methods will do.
 */
export interface AgentLog {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
}

export interface RunAgentInput {
  missionId: string;
  taskId: string;
  worktree: string;
  /** The task branch and the SHA it started from (for the contract and the continuation prompt). */
  branch: string;
  baseSha: string;
  agent: AgentSpec;
  /** The task's own prompt (iteration 1) or the gate's / a steering message (later). */
  prompt: string;
  /** The task as given, restated in continuation prompts after a crash. */
  taskPrompt: string;
  iteration: number;
  /** Resume this agent session (gate iterations, steering, after a rate-limit wait). */
  resumeSessionId?: string | null;
  /**
   * The resumed session's cumulative totals so far: agents report some counters per session
   * (Claude's cost, Codex's tokens), so a resumed run counts only the difference.
   */
  sessionCostUsd?: number;
  sessionInputTokens?: number;
  sessionOutputTokens?: number;
  /**
   * The repository (absolute path). With `runId`, a worktree lost before or during the attempt
   * is rebuilt from the task branch plus its latest checkpoint; without them a lost worktree only
   * fails the attempt.
   */
  repo?: string;
  /** The mission's first run id, owner of the task branch (as given to prepareWorktree). */
  runId?: string;
  /**
   * The mission's `copy` files (e.g. `.env`): never recorded in a checkpoint, and copied again
   * into a rebuilt worktree. Checkpoints are taken only when this is given (an empty list is
   * fine), so a caller that does not say what to exclude never has a secret snapshotted.
   */
  exclude?: string[];
  /**
   * How often to checkpoint while the agent runs, ms; 0 or absent: only at the attempt's end (and
   * not then when the attempt commits the task's work instead, see `commitTitle`).
   */
  checkpointEveryMs?: number;
  /** The mission's `setup`, run again in a rebuilt worktree (default: none). */
  setup?: CommandLine[];
  /** Limit for each setup command in a rebuilt worktree, ms (default 20 minutes). */
  setupTimeoutMs?: number;
  /** Names of the worker's variables those setup commands get besides the baseline (the mission's `env:`). */
  setupEnv?: string[];
  /** Every secret name the mission lists; the worker's redaction boundary learns them (see CommandNames). */
  redact?: string[];
  /**
   * What the agent is for (default `task`). `resolver`: it resolves a merge in progress in a
   * conflict worktree (conflict.ts `prepareConflict`): its transcripts go to
   * `runs/<missionId>/<taskId>/resolver/attempt-<n>.jsonl` (`flotilla logs ID TASK --resolver`),
   * it gets the resolver's contract instead of the task's, no checkpoint is ever taken (`exclude`
   * is ignored) and a lost worktree is never rebuilt (the merge queue prepares the conflict
   * again). For a resolver, `worktree` is the conflict worktree, `branch` the task branch being
   * merged, `baseSha` the candidate commit it is merged onto (`onto`), and `taskPrompt` the
   * resolver prompt (restated by the continuation prompt of a retried attempt).
   */
  role?: AgentRole;
  /**
   * Extra environment for the agent, e.g. `FLOTILLA_CONFLICTS` (the conflicted paths, one a line)
   * for a resolver. Values are recorded in history: never secrets (those go by name in
   * `agent.env`). The runtime's own variables (`FLOTILLA_PROMPT`, ...) win over these.
   */
  extraEnv?: Record<string, string>;
  /**
   * The runtime namespace the agent (and a rebuild's setup) runs in: the activity reserves it on
   * its host (namespace.ts) and adds its variables (`FLOTILLA_SLOT`, `FLOTILLA_PORT`, …) to the
   * agent's environment. Absent: none.
   */
  namespace?: NamespaceRequest;
  /**
   * The task's commit title. When given (a task's agent, never a resolver), an attempt whose agent
   * ended well commits its work on the task branch as `flotilla(<taskId>): <title>` (src/git/commit.ts
   * `commitAndPublish`, with `exclude` left out) instead of taking its final checkpoint: the commit
   * keeps the work, so the WIP snapshot would only repeat it. When that commit fails, the attempt
   * takes the final checkpoint as without this field and returns no `commit`: the workflow's own
   * commit step then runs and reports why.
   */
  commitTitle?: string;
  /**
   * With `commitTitle`: once the commit is made, the task's runtime namespace (`namespace`) is
   * released on this host, as the task workflow's `releaseNamespace` would at the task's end (for a
   * task without a gate, whose end follows its commit). A later step of the task (a steering
   * message's run) reserves it again. The result's `namespaceReleased` says whether it was.
   */
  releaseNamespaceAfterCommit?: boolean;
}

/** The task's commit made by the attempt (RunAgentInput.commitTitle): as the `checkpoint` activity returns it. */
export interface AgentCommit {
  /** The task branch's head after the commit (or its existing head when nothing was left to commit). */
  headSha: string;
  committed: boolean;
  diffstat: Diffstat;
}

export interface RunAgentResult extends AgentUsage {
  /** The Temporal attempt of this activity (1 = first try). */
  attempt: number;
  exitCode: number;
  durationMs: number;
  /** Absolute path of this attempt's transcript (JSON lines). */
  transcript: string;
  /** The agent's final words (Claude's result text, Codex's last message), at most 500 characters. */
  summary: string;
  events: number;
  /** When the agent last wrote an event (its launch when it wrote none), ISO-8601. */
  lastEventAt: string;
  /** True when this attempt continued an earlier session. */
  resumed: boolean;
  /**
   * The task's latest checkpoint, if any: the one taken when this attempt ended, or, when the
   * attempt committed the task's work instead, the latest earlier one.
   */
  checkpointSha: string | null;
  /** The task's commit, when `commitTitle` was given and the commit succeeded. */
  commit?: AgentCommit;
  /** True when the task's namespace was released after the commit (`releaseNamespaceAfterCommit`). */
  namespaceReleased?: boolean;
}

/**
 * What a running attempt reports (the details each of `runAgent`'s heartbeats carries); a retry
 * reads the last ones (Temporal's `Context.info.heartbeatDetails`), `watch` reads them live.
 */
export interface AgentHeartbeat extends AgentUsage {
  pgid: number;
  attempt: number;
  events: number;
  lastEventAt: string;
  transcript: string;
  /** The task's latest checkpoint commit, or null when none is known. */
  checkpointSha: string | null;
  /** Set when this attempt rebuilt a lost worktree: the next attempt's prompt says so. */
  worktreeRebuilt?: boolean;
}

/** Details of every ApplicationFailure runAgent throws (the workflow accounts failed attempts too). */
export interface AgentFailureDetails extends AgentUsage {
  attempt: number;
  /** For `AgentRateLimited`: how long to wait before resuming, ms. */
  retryAfterMs?: number;
  /** The task's latest checkpoint when the attempt ended. */
  checkpointSha?: string | null;
}
