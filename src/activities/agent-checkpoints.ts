/**
 * The checkpoints of one agent attempt: WIP snapshots of the worktree under the task's checkpoint
 * ref (checkpoint.ts), taken periodically while the agent runs and when the attempt ends.
 */
import type { Context } from '@temporalio/activity';
import { names } from '../mission/types';
import { snapshotWorktree } from '../git/checkpoint';

export interface AttemptCheckpointsInput {
  missionId: string;
  taskId: string;
  worktree: string;
  /** The mission's `copy` files; checkpoints are taken only when this is given. */
  exclude?: string[];
  /** How often to checkpoint while the agent runs, ms; 0 or absent: never periodically. */
  checkpointEveryMs?: number;
}

/**
 * Checkpoints one at a time, never failing the attempt: a checkpoint that fails is logged and
 * skipped (the agent's work is still in its worktree).
 */
export class AttemptCheckpoints {
  /** The latest checkpoint commit known. */
  sha: string | null;
  private chain: Promise<void> = Promise.resolve();
  private periodicBusy = false;
  private lastAt = Date.now();

  constructor(
    private readonly input: AttemptCheckpointsInput,
    private readonly attempt: number,
    private readonly log: Context['log'],
    initialSha: string | null,
  ) {
    this.sha = initialSha;
  }

  /** False when the caller gave no `exclude` list: then nothing is ever recorded. */
  get enabled(): boolean {
    return this.input.exclude !== undefined;
  }

  /** Called every tick while the agent runs (`now`: epoch ms): starts a periodic checkpoint when one is due. */
  tick(now: number): void {
    const every = this.input.checkpointEveryMs ?? 0;
    if (!this.enabled || every <= 0 || this.periodicBusy || now - this.lastAt < every) return;
    this.periodicBusy = true;
    this.lastAt = now;
    void this.take(`attempt ${this.attempt} running`).finally(() => {
      this.periodicBusy = false;
    });
  }

  /** Resolves when no checkpoint is in flight. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Takes a checkpoint after any that is in flight; resolves when it is recorded (or skipped). */
  take(label: string): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const run = this.chain.then(async () => {
      try {
        const r = await snapshotWorktree({
          worktree: this.input.worktree,
          ref: names.checkpointRef(this.input.missionId, this.input.taskId),
          exclude: this.input.exclude ?? [],
          message: `flotilla(${this.input.taskId}): checkpoint, ${label}`,
        });
        if (r.sha) this.sha = r.sha;
        if (r.changed) this.log.debug('checkpoint recorded', { sha: r.sha, label });
      } catch (err) {
        this.log.warn('checkpoint failed; the work is still in the worktree', {
          error: (err as Error).message,
          label,
        });
      }
    });
    this.chain = run;
    return run;
  }
}
