/**
 * Where a task of a mission with a shared origin (`origin:`) runs: it claims a host on the
 * placement task queue (any worker with room for an agent answers, the least busy first), and when
 * that host is lost (an activity waited on its task queue for {@link HOST_LOST_AFTER_MS} with no
 * worker polling, or a heartbeat timed out with no retry left) the task claims another one. The
 * new host rebuilds the worktree from what the old one pushed to the origin (task branch and
 * checkpoint); the agent resumes its session only on the host that has it, else starts fresh
 * with the continuation prompt.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { ClaimTaskHostResult } from '../../activities/host';
import { placement } from '../activities';
import type { TaskInput } from './types';
import type { TaskSteps } from './steps';

/** The continuation note for an agent whose task moved from a lost host. */
export function movedNote(from: string, to: string, session: boolean): string {
  return session
    ? `The host running you (${from}) was lost; you continue on ${to}. Your work up to the last checkpoint is in the worktree. Continue the task where you stopped.`
    : `This task was running on host ${from}, which was lost; it continues on ${to} in a new session. The worktree holds the work up to its last checkpoint (see git status and git log); continue the task and do not redo what is already done.`;
}

export class TaskPlacement {
  /** Every host the task was placed on, in order (the last one is where it runs). */
  readonly hosts: string[] = [];

  constructor(
    private readonly input: TaskInput & { origin: string },
    private readonly steps: TaskSteps,
  ) {}

  get host(): string | null {
    return this.hosts.length ? this.hosts[this.hosts.length - 1] : null;
  }

  /** Claims a host (waiting while every host is full) and moves the task's activities there. */
  async claim(why: string): Promise<ClaimTaskHostResult> {
    const { input, steps } = this;
    steps.step(this.hosts.length ? `placing again (${why})` : 'placing on a host');
    const summary = `place ${input.task.id} on a host with room${this.hosts.length ? ` (${why})` : ''}`;
    const c = await // The task runs on the shared task queue; the placement task queue is named after it.
    placement(workflowInfo().taskQueue).claimTaskHost.executeWithOptions({ summary }, [
      { origin: input.origin, missionId: input.missionId, taskId: input.task.id },
    ]);
    steps.moveTo(c.taskQueue, c.repo, c.host);
    this.hosts.push(c.host);
    return c;
  }
}
