/**
 * The one owner of `runAgent`'s heartbeat. Every heartbeat of an agent attempt goes through
 * {@link AgentHeartbeater}, with the same details shape, so the last details a retry reads
 * (`Context.info.heartbeatDetails`) are always the agent's: its usage (session and counters), its
 * latest checkpoint and whether it rebuilt the worktree. Steps around the agent (a worktree rebuild
 * and its setup commands, checkpoints) report progress through it instead of heartbeating their own.
 */
import type { Context } from '@temporalio/activity';
import type { LaunchObserver } from '../agents/launch';
import type { AgentHeartbeat, AgentUsage } from '../agents/types';

/** How often the steps around the agent (rebuild, checkpoints) heartbeat, ms. */
export const STEP_HEARTBEAT_MS = 5000;

/** Heartbeats an agent attempt; observes its launches (src/agents/launch.ts) and the steps around them. */
export class AgentHeartbeater implements LaunchObserver {
  private pgid = 0;
  private transcript = '';
  private events = 0;
  private lastEventAt = Date.now();
  private worktreeRebuilt = false;

  /**
   * `usage` is the attempt's live usage (read at every beat); `checkpointSha` the latest
   * checkpoint the attempt knows.
   */
  constructor(
    private readonly ctx: Pick<Context, 'heartbeat'>,
    private readonly usage: AgentUsage,
    private readonly attempt: number,
    private readonly checkpointSha: () => string | null,
  ) {}

  /** The agent process group `pgid` runs, writing `transcript`. */
  launched(pgid: number, transcript: string): void {
    this.pgid = pgid;
    this.transcript = transcript;
    this.events = 0;
    this.lastEventAt = Date.now();
  }

  /** The agent produced output: `events` so far, the last at `at` (epoch ms). */
  progress(events: number, at: number): void {
    this.events = events;
    this.lastEventAt = at;
  }

  /** No agent runs (between launches, or after the last). */
  idle(): void {
    this.pgid = 0;
    this.transcript = '';
    this.events = 0;
    this.lastEventAt = Date.now();
  }

  /** This attempt rebuilt a lost worktree: the next attempt's prompt must say so. */
  markRebuilt(): void {
    this.worktreeRebuilt = true;
  }

  /** The details the next heartbeat carries. */
  details(): AgentHeartbeat {
    return {
      ...this.usage,
      pgid: this.pgid,
      attempt: this.attempt,
      events: this.events,
      lastEventAt: new Date(this.lastEventAt).toISOString(),
      transcript: this.transcript,
      checkpointSha: this.checkpointSha(),
      ...(this.worktreeRebuilt ? { worktreeRebuilt: true } : {}),
    };
  }

  /** Heartbeats now with {@link details}. */
  beat(): void {
    this.ctx.heartbeat(this.details());
  }

  /** Runs a step around the agent, heartbeating at its start, every `everyMs` and at its end. */
  async during<T>(fn: () => Promise<T>, everyMs = STEP_HEARTBEAT_MS): Promise<T> {
    this.beat();
    const timer = setInterval(() => this.beat(), everyMs);
    try {
      return await fn();
    } finally {
      clearInterval(timer);
      this.beat();
    }
  }
}

/**
 * The previous attempt's heartbeat details, when this is a retry (`attempt > 1`) and they are an
 * agent heartbeat (details of another shape, such as a setup command's `{ command }`, are not).
 */
export function previousHeartbeat(info: {
  attempt: number;
  heartbeatDetails?: unknown;
}): Partial<AgentHeartbeat> | undefined {
  if (info.attempt <= 1) return undefined;
  const raw = info.heartbeatDetails as Partial<AgentHeartbeat> | undefined;
  return raw && typeof raw === 'object' && typeof raw.attempt === 'number' ? raw : undefined;
}
