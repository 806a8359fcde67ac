/**
 * Why a mission is not going on, in one object: `cancel`, `stop` or `block`. Pure (part of
 * `Mission`, src/workflows/mission-state.ts).
 *
 * - `cancel {reason}`: set once, by the workflow's cancellation request (or a cancel that came
 *   while the mission set up); final. Its reason is the `cancel` signal's, when one came.
 * - `stop {reason, byTask}`: a task failure's policy, a conflict under `fail`, a failed verify
 *   under `fail`, an error the mission cannot get past. No wave starts; a `retry` of `byTask` (the
 *   task whose failure stopped it) lifts it.
 * - `block {kind, taskId}`: a human must fix a conflict or the integration branch. Lifted only by
 *   what it waits for: `resume`, or a `skip` of the very task whose conflict (or failed verify) it is.
 */
import type { MissionState } from '../mission/progress';
import type { Block } from './mission-types';

export class Halt {
  cancel: { reason: string } | null = null;
  stop: { reason: string; byTask: string | null } | null = null;
  block: Block | null = null;
  /** The reason the `cancel` signal gave (`flotilla cancel --reason`), for the cancellation it announces. */
  private cancelReason: string | null = null;

  constructor(private readonly state: MissionState) {}

  /** No new wave or task starts. */
  get halted(): boolean {
    return this.cancel !== null || this.stop !== null;
  }

  /**
   * Records the cancellation, with the `cancel` signal's reason when one came (else `fallback`);
   * false when the mission is already cancelling or has ended.
   */
  requestCancel(fallback: string): boolean {
    if (this.cancel || this.state.endedAt) return false;
    const reason = this.cancelReason ?? fallback;
    this.cancel = { reason };
    this.state.reason = reason;
    return true;
  }

  /** The `cancel` signal's reason: for the cancellation under way, or the one about to be requested. */
  explain(reason: string): void {
    this.cancelReason = reason;
    if (!this.cancel || this.state.endedAt) return;
    this.cancel.reason = reason;
    this.state.reason = reason;
  }

  /** Stops the mission (the first reason stands); `byTask`: the task whose retry lifts it. */
  stopFor(reason: string, byTask: string | null = null): void {
    this.stop ??= { reason, byTask };
  }

  /** A retry of `taskId`: lifts the stop it caused. */
  retried(taskId: string): void {
    if (this.stop?.byTask === taskId) this.stop = null;
  }

  /** Starts waiting on a human. */
  blockOn(block: Block): void {
    this.block = block;
    this.state.blocked = true;
    this.state.reason = block.reason;
  }

  /** `resume` lifts any block. */
  resumed(): void {
    this.block = null;
  }

  /** A skip of `taskId` lifts the block only when it is that task's conflict. */
  skipped(taskId: string): void {
    if (this.block?.taskId !== undefined && this.block.taskId === taskId) this.block = null;
  }

  /** The wait is over (lifted or cancelled); returns false when cancelled. */
  unblocked(): boolean {
    this.block = null;
    this.state.blocked = false;
    if (!this.cancel) this.state.reason = this.state.paused ? 'paused by user' : null;
    return !this.cancel;
  }
}
