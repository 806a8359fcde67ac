/**
 * The git and gate steps of `taskWorkflow` around its agent: the worktree, the commit on the task
 * branch, the WIP checkpoint of unfinished work, and the task's `verify` gate.
 */
import { CancellationScope, patched } from '@temporalio/workflow';
import type { CheckpointResult } from '../activities/commit';
import { failureMessage } from '../mission/failures';
import type { Diffstat } from '../mission/progress';
import type { TaskUsage } from '../mission/usage';
import { taskHost } from './activities';
import { SETUP_COMMAND_TIMEOUT_MS, TASK_VERIFY_COMMAND_TIMEOUT_MS } from './limits';
import type { TaskInput } from './task';

export interface TaskResult extends TaskUsage {
  status: 'succeeded' | 'failed';
  branch: string;
  headSha: string | null;
  diffstat: Diffstat | null;
  iterations: number;
  summary: string;
  error: string | null;
}

/** What a result says besides its status, branch and usage. */
export type TaskEnding = Omit<TaskResult, 'status' | 'branch' | keyof TaskUsage>;

export class TaskSteps {
  readonly acts: ReturnType<typeof taskHost>;
  wt!: { worktree: string; branch: string };

  constructor(
    private readonly input: TaskInput,
    private readonly usage: TaskUsage,
  ) {
    this.acts = taskHost(input.hostQueue, input.task, input.setup.length);
  }

  async prepare(): Promise<void> {
    const { input } = this;
    this.wt = await this.acts.prepareWorktree({
      missionId: input.missionId,
      runId: input.runId,
      taskId: input.task.id,
      repo: input.repo,
      baseSha: input.baseSha,
      setup: input.setup,
      copy: input.copy,
      setupTimeoutMs: SETUP_COMMAND_TIMEOUT_MS,
      redact: input.task.agent.env,
    });
  }

  /** Fast-forwards the task branch to the candidate that failed the mission verify (a fix run). */
  async syncTo(sha: string): Promise<void> {
    await this.acts.syncTaskBranch({ worktree: this.wt.worktree, sha });
  }

  result(status: TaskResult['status'], rest: TaskEnding): TaskResult {
    return { status, branch: this.wt.branch, ...this.usage, ...rest };
  }

  /**
   * Commits what the agent left on the task branch (the activity is named `checkpoint` in
   * histories); `note` marks work kept after a failure (only missions from before WIP checkpoints).
   */
  commit(note?: string): Promise<CheckpointResult> {
    const { input, wt } = this;
    return this.acts.checkpoint({
      worktree: wt.worktree,
      taskId: input.task.id,
      title: input.task.title,
      branch: wt.branch,
      baseSha: input.baseSha,
      exclude: input.copy,
      note,
    });
  }

  /** Records the worktree's state under the task's checkpoint ref; the task branch is not touched. */
  checkpoint(note: string) {
    const { input, wt } = this;
    return this.acts.snapshot({
      worktree: wt.worktree,
      repo: input.repo,
      missionId: input.missionId,
      taskId: input.task.id,
      exclude: input.copy,
      note,
    });
  }

  /** The task's `verify` commands in its worktree. */
  gate() {
    return this.acts.runChecks({
      cwd: this.wt.worktree,
      commands: this.input.task.verify,
      timeoutMs: TASK_VERIFY_COMMAND_TIMEOUT_MS,
      logFile: `${this.wt.worktree}.verify.log`,
      env: this.input.task.agent.env,
    });
  }

  /**
   * The agent could not finish: keep its work, then rethrow a cancellation or return the failure.
   * The task branch only ever gets the clean final commit: unfinished work goes to the checkpoint
   * ref, and the worktree keeps it for `flotilla retry`.
   */
  async agentFailed(err: unknown, iteration: number, summary: string, cancelled: boolean): Promise<TaskResult> {
    // Versioning: missions started before WIP checkpoints committed `[cancelled]` and
    // `[incomplete]` work on the task branch; their histories replay that way.
    const toRef = patched('wip-checkpoints');
    if (cancelled) {
      // The agent is dead (the activity waited for the kill and took a checkpoint); this one
      // also covers a task cancelled while no attempt ran (held, between attempts).
      await CancellationScope.nonCancellable(() =>
        (toRef ? this.checkpoint('[cancelled]') : this.commit('[cancelled]')).then(
          () => undefined,
          () => undefined,
        ),
      );
      throw err;
    }
    if (toRef) {
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
    const kept = await this.commit('[incomplete]').catch(() => null);
    return this.result('failed', {
      headSha: kept?.headSha ?? null,
      diffstat: kept?.diffstat ?? null,
      iterations: iteration,
      summary,
      error: failureMessage(err),
    });
  }
}
