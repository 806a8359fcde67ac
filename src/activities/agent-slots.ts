/**
 * The agents one worker runs at once (`flotilla worker --agents N`) and its drain. Temporal's
 * `maxConcurrentActivityTaskExecutions` counts every activity of the host queue (git, checks,
 * agents), so the agent cap is kept here: an attempt beyond it waits for a slot, heartbeating the
 * previous attempt's details (so a retry after a crash still reads the agent's session).
 *
 * On drain (the worker received SIGTERM/SIGINT) every running agent is stopped at once: its group
 * is killed and its worktree checkpointed by the attempt's usual cancellation path, and the attempt
 * fails with the retryable `WorkerShutdown` (see {@link drainedFailure}). Temporal retries it on
 * any worker of the same host queue (after restart, or another process with the same host id);
 * when the attempts ran out the task workflow starts a new activity that resumes the session
 * (`worker-shutdown-not-a-failure` in src/workflows/task-agent.ts). An attempt waiting for a slot
 * leaves the same way.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { ErrorType } from '../mission/error-types';

/** How often an attempt waiting for a slot heartbeats, ms (the agent's heartbeat timeout is 20 s). */
const WAIT_HEARTBEAT_MS = 2000;

/** A worker's agents right now. */
export interface AgentLoad {
  /** Agents running (their attempt holds a slot). */
  running: number;
  /** Attempts waiting for a slot. */
  waiting: number;
  /** Tasks placed on this worker (`claimTaskHost`) whose agent has not started yet. */
  reserved: number;
  /** The cap (`--agents`), or null when there is none. */
  capacity: number | null;
}

/** How long a placed task's reservation holds a slot before its agent starts here, ms. */
const RESERVATION_MS = 2 * 60_000;

export class AgentSlots {
  private running = 0;
  /** Placed tasks (their workflow ids) whose agents have not started: when each reservation lapses (epoch ms). */
  private readonly reservations = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private readonly drainController = new AbortController();

  /**
   * @param capacity agents at once; undefined: no cap of its own (the host queue's concurrency still applies)
   * @param placementCapacity how many placed tasks this worker takes (running plus reserved
   *   agents) before it stops offering itself; default `capacity`. The worker sets it below its
   *   activity slots, so the git and gate activities of its tasks never wait behind agents (a
   *   wait that would look like a lost host).
   */
  constructor(
    readonly capacity?: number,
    readonly placementCapacity = capacity,
  ) {}

  /** Aborted once the worker drains. */
  get drainSignal(): AbortSignal {
    return this.drainController.signal;
  }

  get draining(): boolean {
    return this.drainController.signal.aborted;
  }

  load(): AgentLoad {
    return {
      running: this.running,
      waiting: this.waiters.size,
      reserved: this.liveReservations(),
      capacity: this.capacity ?? null,
    };
  }

  private liveReservations(): number {
    const now = Date.now();
    for (const [key, until] of this.reservations) if (until <= now) this.reservations.delete(key);
    return this.reservations.size;
  }

  /** True when this worker takes no more placed tasks: running and reserved agents are at its placement capacity, or it drains. */
  get full(): boolean {
    if (this.draining) return true;
    const cap = this.placementCapacity;
    return cap !== undefined && this.running + this.liveReservations() >= cap;
  }

  /**
   * Reserves a slot for the task whose workflow id is `key` (placed here by `claimTaskHost`); its
   * first agent attempt here takes the reservation over.
   * @returns false when the worker is full or draining (nothing reserved)
   */
  reserve(key: string): boolean {
    if (this.reservations.has(key)) return !this.draining;
    if (this.full) return false;
    this.reservations.set(key, Date.now() + RESERVATION_MS);
    return true;
  }

  /** Drops `key`'s reservation (its claim failed, or its agent started). */
  unreserve(key: string): void {
    this.reservations.delete(key);
  }

  /** Stops running agents (they checkpoint and fail with `WorkerShutdown`) and waiting attempts. */
  drain(): void {
    this.drainController.abort();
    for (const wake of this.waiters) wake();
  }

  /**
   * Takes a slot for the current activity, waiting (heartbeating) while all are taken.
   * @returns the function that gives the slot back (call it once, when the attempt ends)
   * @throws {@link drainedFailure} when the worker drains first; CancelledFailure when the
   *   activity is cancelled while it waits
   */
  async acquire(ctx: Pick<Context, 'cancellationSignal' | 'heartbeat' | 'info'>): Promise<() => void> {
    let waited = false;
    while (!this.draining && !ctx.cancellationSignal.aborted && this.capacity !== undefined) {
      if (this.running < this.capacity) break;
      if (!waited) ctx.heartbeat(ctx.info.heartbeatDetails);
      waited = true;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          ctx.cancellationSignal.removeEventListener('abort', wake);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, WAIT_HEARTBEAT_MS);
        ctx.cancellationSignal.addEventListener('abort', wake);
        this.waiters.add(wake);
      });
      // The details stay the previous attempt's: a retry must still find the agent's session.
      ctx.heartbeat(ctx.info.heartbeatDetails);
    }
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('agent cancelled while it waited for a slot');
    if (this.draining) throw drainedFailure('the worker drained before the agent started');
    this.running++;
    const wf = ctx.info.workflowExecution?.workflowId;
    if (wf) this.reservations.delete(wf);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      // One slot freed: the first waiter takes it (the others look again at their next beat).
      const [first] = this.waiters;
      first?.();
    };
  }
}

/**
 * The failure of an agent attempt stopped by a drain: retryable, of the type the SDK gives an
 * activity cancelled by a worker shutdown, so the task workflow treats both alike.
 * @param details the attempt's {@link AgentFailureDetails} (usage, session, checkpoint), when known
 */
export function drainedFailure(message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    message,
    type: ErrorType.WorkerShutdown,
    details: details === undefined ? [] : [details],
  });
}
