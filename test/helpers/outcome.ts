/**
 * A mission's final progress whatever way its workflow ended: Completed (its result), Failed with
 * `MissionFailed` (the progress is the failure's first detail), or Canceled (the progress query,
 * which a closed workflow still answers while a worker polls its task queue).
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ErrorType } from '../../src/mission/error-types';
import type { MissionResult } from '../../src/workflows/mission';
import { progressQuery } from '../../src/workflows/messages';

export async function missionResult(handle: WorkflowHandle): Promise<MissionResult> {
  try {
    return (await handle.result()) as MissionResult;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    if (err.cause instanceof ApplicationFailure && err.cause.type === ErrorType.MissionFailed)
      return err.cause.details![0] as MissionResult;
    if (err.cause instanceof CancelledFailure) return handle.query(progressQuery);
    throw err;
  }
}
