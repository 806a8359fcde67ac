/**
 * The git and gate steps of `taskWorkflow` around its agent: the worktree, the commit on the task
 * branch, the WIP checkpoint of unfinished work, and the task's `verify` gate. Each activity call
 * survives its worker shutting down (worker-shutdown.ts).
 */
import { CancellationScope } from '@temporalio/workflow';
import type { CheckpointResult } from '../../activities/commit';
import { failureMessage } from '../../mission/failures';
import type { TaskDetails } from '../../mission/current-details';
import type { TaskUsage } from '../../mission/usage';
import type { NamespaceRequest } from '../../mission/types';
import { HOST_LOST_AFTER_MS, taskHost } from '../activities';
import { SETUP_COMMAND_TIMEOUT_MS, TASK_VERIFY_COMMAND_TIMEOUT_MS } from '../limits';
import { commands, line, short } from '../summaries';
import type { TaskEnding, TaskInput, TaskResult } from './types';
import { despiteShutdowns } from '../worker-shutdown';

export class TaskSteps {
  acts: ReturnType<typeof taskHost>;
  /** The repository on the task's host: the mission's, or (placed) that host's clone of the origin. */
  repo: string;
  /** Placed on a host of its own (a mission with `origin:`): each prepare rebuilds from the origin. */
  placed = false;
  /** The host the task is placed on (placed tasks only). */
  host: string | null = null;
  wt!: { worktree: string; branch: string };
  /** The agent's attempt released the task's namespace after its commit, and no step reserved it since. */
  namespaceReleased = false;
  /** What the task does now, for its current details (the workflow renders it with its usage). */
  readonly details: Omit<TaskDetails, keyof TaskUsage | 'runs'> & { runs: number };

  constructor(
    private readonly input: TaskInput,
    private readonly usage: TaskUsage,
  ) {
    this.acts = taskHost(input.hostQueue, input.task, input.setup.length);
    this.repo = input.repo;
    this.details = {
      step: 'preparing its worktree',
      since: new Date().toISOString(),
      iteration: 1,
      maxIterations: input.task.maxIterations,
      runs: 0,
      lastEventAt: null,
      gate: null,
      retrying: null,
      ended: null,
    };
  }

  /**
   * The task was placed on the host whose task queue is `taskQueue`, with its clone at `repo`: every later
   * activity goes there, with the schedule-to-start timeout that tells when that host is lost.
   */
  moveTo(taskQueue: string, repo: string, host: string): void {
    this.acts = taskHost(
      taskQueue,
      this.input.task,
      this.input.setup.length,
      this.input.hostLostAfterMs ?? HOST_LOST_AFTER_MS,
    );
    this.repo = repo;
    this.host = host;
    this.placed = true;
  }

  /** The task's runtime namespace on its host (src/agents/namespace.ts): setup, agent and gate run in it. */
  get namespace(): NamespaceRequest {
    const { input } = this;
    return { missionId: input.missionId, taskId: input.task.id, runId: input.runId, ports: input.task.ports ?? 0 };
  }

  /**
   * Ends the task's runtime namespace on its host (`releaseNamespace`), whatever the task's outcome,
   * unless the agent's last attempt already ended it after the task's commit (`namespaceReleased`);
   * not even a cancellation stops it, and its failure is ignored (the next reservation on that host
   * finds a stale one: see src/agents/namespace.ts).
   */
  async releaseNamespace(): Promise<void> {
    if (!this.wt || this.namespaceReleased) return;
    const { missionId, taskId, runId } = this.namespace;
    await CancellationScope.nonCancellable(() =>
      this.acts.releaseNamespace
        .executeWithOptions({ summary: `release ${taskId}'s slot and ports` }, [{ missionId, taskId, runId }])
        .catch(() => undefined),
    );
  }

  /** The task moves on to `step` (its current details say so, and since when). */
  step(step: string): void {
    this.details.step = step;
    this.details.since = new Date().toISOString();
  }

  async prepare(): Promise<void> {
    const { input } = this;
    this.namespaceReleased = false;
    const summary = `worktree for ${input.task.id} from ${short(input.baseSha)}`;
    this.wt = await despiteShutdowns(() =>
      this.acts.prepareWorktree.executeWithOptions({ summary }, [
        {
          missionId: input.missionId,
          runId: input.runId,
          taskId: input.task.id,
          repo: this.repo,
          baseSha: input.baseSha,
          setup: input.setup,
          copy: input.copy,
          setupTimeoutMs: SETUP_COMMAND_TIMEOUT_MS,
          env: input.env,
          redact: input.redact ?? input.task.agent.env,
          namespace: this.namespace,
          ...(this.placed ? { fromOrigin: true } : {}),
        },
      ]),
    );
  }

  /** Fast-forwards the task branch to the candidate that failed the mission verify (a fix run). */
  async syncTo(sha: string): Promise<void> {
    this.step('syncing its branch to the failing candidate');
    const summary = `fast-forward ${this.wt.branch} to the failing candidate ${short(sha)}`;
    await despiteShutdowns(() =>
      this.acts.syncTaskBranch.executeWithOptions({ summary }, [{ worktree: this.wt.worktree, sha }]),
    );
  }

  result(status: TaskResult['status'], rest: TaskEnding): TaskResult {
    this.details.ended = status === 'succeeded' ? 'succeeded' : `failed: ${rest.error ?? 'unknown'}`;
    this.details.retrying = null;
    return { status, branch: this.wt.branch, ...this.usage, ...rest };
  }

  /** Commits what the agent left on the task branch (the activity is named `checkpoint` in histories). */
  commit(): Promise<CheckpointResult> {
    const { input, wt } = this;
    this.step('committing its work');
    const summary = line(`commit ${input.task.id}'s work on ${wt.branch}`);
    return despiteShutdowns(() =>
      this.acts.checkpoint.executeWithOptions({ summary }, [
        {
          worktree: wt.worktree,
          taskId: input.task.id,
          title: input.task.title,
          branch: wt.branch,
          baseSha: input.baseSha,
          exclude: input.copy,
        },
      ]),
    );
  }

  /** Records the worktree's state under the task's checkpoint ref; the task branch is not touched. */
  checkpoint(note: string) {
    const { input, wt } = this;
    const summary = `checkpoint ${input.task.id} ${note}`;
    return despiteShutdowns(() =>
      this.acts.snapshot.executeWithOptions({ summary }, [
        {
          worktree: wt.worktree,
          repo: this.repo,
          missionId: input.missionId,
          taskId: input.task.id,
          exclude: input.copy,
          note,
        },
      ]),
    );
  }

  /** The task's `verify` commands in its worktree. */
  async gate() {
    const { task } = this.input;
    this.step('gate running');
    this.namespaceReleased = false;
    const summary = line(`gate ${commands(task.verify)} · ${task.id} · iteration ${this.details.iteration}`);
    const r = await despiteShutdowns(() =>
      this.acts.runChecks.executeWithOptions({ summary }, [
        {
          cwd: this.wt.worktree,
          commands: task.verify,
          timeoutMs: TASK_VERIFY_COMMAND_TIMEOUT_MS,
          logFile: `${this.wt.worktree}.verify.log`,
          env: this.input.env,
          redact: this.input.redact ?? this.input.task.agent.env,
          namespace: this.namespace,
        },
      ]),
    );
    this.details.gate = r.ok
      ? `passed at iteration ${this.details.iteration}`
      : `\`${r.failed!.command}\` failed (exit ${r.failed!.exitCode ?? 'timeout'}) at iteration ${this.details.iteration}`;
    return r;
  }

  /**
   * The agent could not finish: keep its work, then rethrow a cancellation or return the failure.
   * The task branch only ever gets the clean final commit: unfinished work goes to the checkpoint
   * ref, and the worktree keeps it for `flotilla retry`.
   */
  async agentFailed(err: unknown, iteration: number, summary: string, cancelled: boolean): Promise<TaskResult> {
    if (cancelled) {
      // The agent is dead (the activity waited for the kill and took a checkpoint); this one
      // also covers a task cancelled while no attempt ran (held, between attempts).
      await CancellationScope.nonCancellable(() =>
        this.checkpoint('[cancelled]').then(
          () => undefined,
          () => undefined,
        ),
      );
      throw err;
    }
    const kept = await this.checkpoint('[incomplete]').catch(() => null);
    const where = kept?.sha ? ` (its work is kept in checkpoint ${kept.sha.slice(0, 12)}, ${kept.ref})` : '';
    return this.result('failed', {
      headSha: null,
      diffstat: null,
      iterations: iteration,
      summary,
      error: `${failureMessage(err)}${where}`,
    });
  }
}
