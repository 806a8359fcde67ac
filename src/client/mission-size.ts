/**
 * Whether a mission fits in Temporal's payloads, checked before it starts. Temporal refuses one
 * payload over `limit.blobSize.error` (2 MiB by default: temporalio/temporal
 * common/dynamicconfig/constants.go; the `temporal server start-dev` dev server Flotilla embeds
 * keeps that default, and Temporal Cloud has the same limit) and logs a warning over
 * `limit.blobSize.warn` (512 KiB); a gRPC message over 4 MiB is refused whatever it holds. A
 * mission puts all of its tasks in one payload more than once, and the one that grows most is not
 * the start input:
 *
 * - the start input (`MissionInput`): every task's spec, prompts inline;
 * - continue-as-new and a reopened mission: the same input plus the state it carries, one entry per
 *   task (status, commits, times, usage ledger) that fills in as tasks run;
 * - a failed mission's `MissionFailed` details: its progress and that carried state;
 * - the progress query's result (`status`, `watch`, the report): the progress.
 *
 * Each task workflow's input holds one task's spec (its prompt at most 64 KiB) and does not grow
 * with the mission. The check encodes each payload with the SDK's default payload converter (JSON),
 * the state as it would be once every task ran (a commit, a session, times, usage and a one-line
 * reason per task), and refuses the mission when the largest would pass {@link MAX_PAYLOAD_BYTES}.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { MissionFileError } from '../mission/errors';
import type { LoadedMission } from '../mission/load';
import { deriveProgress, initialState, MAX_VERIFY_RUNS, MissionState } from '../mission/progress';
import type { TaskUsage } from '../mission/usage';
import type { MissionInput } from '../workflows/mission';
import type { CarriedState } from '../workflows/mission-types';

/** Temporal's default `limit.blobSize.error`: the largest payload the service accepts, bytes. */
export const BLOB_SIZE_LIMIT_BYTES = 2 * 1024 * 1024;
/**
 * The largest payload Flotilla lets a mission make: 90% of {@link BLOB_SIZE_LIMIT_BYTES}, a margin
 * for what the estimate cannot know (longer failure reasons, conflicts, hosts' names).
 */
export const MAX_PAYLOAD_BYTES = Math.floor(BLOB_SIZE_LIMIT_BYTES * 0.9);

/** `missionWorkflow`'s start input, as `startMission` sends it. */
export function missionStartInput(loaded: LoadedMission): MissionInput {
  return { spec: loaded.spec };
}

/**
 * The size of `values` as the arguments of one Temporal call, bytes: each converted by the SDK's
 * default payload converter (JSON, `json/plain`), all in one `Payloads` message, as the service
 * measures them against its limit.
 */
export function payloadBytes(...values: unknown[]): number {
  const payloads = values.map((v) => defaultPayloadConverter.toPayload(v));
  return temporal.api.common.v1.Payloads.encode({ payloads }).finish().length;
}

/**
 * {@link payloadBytes} without encoding: the JSON's UTF-8 length plus what a `Payloads` message
 * adds around it (the `json/plain` metadata and field headers, under 64 bytes per value). For the
 * projected payloads, megabytes that the SDK's UTF-8 encoder would take seconds to encode.
 */
export function jsonPayloadBytes(...values: unknown[]): number {
  return values.reduce<number>((sum, v) => sum + Buffer.byteLength(JSON.stringify(v)) + 64, 0);
}

const SHA = 'f'.repeat(40);
const SESSION = '00000000-0000-4000-8000-000000000000';
const REASON = 'skipped: depends on a-task-name (verify failed: npm test exited 1)';

/** The state carried once every task ran: each one's entry filled in as far as it goes. */
function stateAtEnd(loaded: LoadedMission): CarriedState {
  const now = new Date(0).toISOString();
  const state: MissionState = initialState(loaded.spec, loaded.waves, now);
  Object.assign(state, { baseSha: SHA, integrationSha: SHA, candidateTip: SHA, endedAt: now, reason: REASON });
  const lastUsage: Record<string, TaskUsage> = {};
  for (const t of state.tasks) {
    Object.assign(t, {
      ...{ status: 'merged', attempts: 9, iterations: 3, headSha: SHA, sessionId: SESSION, error: REASON },
      ...{ turns: 120, costUsd: 12.345678, inputTokens: 1234567, outputTokens: 123456, host: 'worker-host-1' },
      ...{ startedAt: now, endedAt: now, mergedAt: now, diffstat: { files: 12, insertions: 1234, deletions: 123 } },
    });
    const { turns, costUsd, inputTokens, outputTokens } = t;
    const session = { sessionId: SESSION, sessionCostUsd: costUsd, sessionInputTokens: 1, sessionOutputTokens: 1 };
    lastUsage[t.id] = { turns, costUsd, inputTokens, outputTokens, ...session, attempts: 9 };
  }
  // The merge queue keeps its latest verify runs, each naming the tasks of its batch.
  const batch = state.tasks.slice(0, loaded.spec.concurrency).map((t) => t.id);
  state.verifyRuns = Array.from({ length: MAX_VERIFY_RUNS }, (_, i) => ({
    ...{ batch: i, sha: SHA, taskIds: batch, kind: 'batch' as const, ok: false, failed: 'npm test (exit 1)' },
  }));
  return { state, resumes: 1, budgetTripped: false, retries: {}, lastUsage, ownerRunId: SESSION };
}

/** The sizes of a mission's payloads, bytes (see the module's comment). */
export interface MissionPayloadSizes {
  start: number;
  continueAsNew: number;
  failed: number;
  progress: number;
  /** The prompts' share of `start`. */
  prompts: number;
}

/** Measures the payloads `loaded` makes: the start input exactly, the others at the mission's end. */
export function missionPayloadSizes(loaded: LoadedMission): MissionPayloadSizes {
  const input = missionStartInput(loaded);
  const carried = stateAtEnd(loaded);
  const progress = deriveProgress(loaded.spec.id, carried.state);
  return {
    start: payloadBytes(input),
    continueAsNew: jsonPayloadBytes({ ...input, carried }),
    failed: jsonPayloadBytes(progress, carried),
    progress: jsonPayloadBytes(progress),
    prompts: loaded.spec.tasks.reduce((sum, t) => sum + Buffer.byteLength(t.prompt), 0),
  };
}

const size = (bytes: number): string =>
  bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;

/**
 * Refuses a mission whose largest payload would pass {@link MAX_PAYLOAD_BYTES}: it would start and
 * then fail (or could not even start), with Temporal's error instead of this one.
 * @throws MissionFileError on `tasks`, saying the sizes, the limit and what to do
 */
export function checkMissionSize(loaded: LoadedMission): MissionPayloadSizes {
  const sizes = missionPayloadSizes(loaded);
  const largest = Math.max(sizes.start, sizes.continueAsNew, sizes.failed, sizes.progress);
  if (largest <= MAX_PAYLOAD_BYTES) return sizes;
  const n = loaded.spec.tasks.length;
  const fits = Math.max(1, Math.floor((n * MAX_PAYLOAD_BYTES) / largest));
  const promptHeavy = sizes.prompts > sizes.start / 2;
  throw new MissionFileError(loaded.file, [
    {
      path: 'tasks',
      reason:
        `the mission is too large for Temporal: its start input is ${size(sizes.start)} (${n} tasks, prompts ${size(sizes.prompts)}), ` +
        `and with the state of its tasks its largest payload would be about ${size(largest)} ` +
        `(${largest === sizes.failed ? 'the details of a failed mission' : 'the input of a continue-as-new'}); ` +
        `Temporal refuses a payload over ${size(BLOB_SIZE_LIMIT_BYTES)} (limit.blobSize.error, its default), so Flotilla allows ${size(MAX_PAYLOAD_BYTES)}`,
      fix:
        `split the mission into missions of at most about ${fits} tasks each` +
        (promptHeavy
          ? ', or shorten the prompts (put the details in files in the repository and point the agents at them; promptFile does not help: prompts are sent inline)'
          : ' (prompts are a small part of it; promptFile does not help: prompts are sent inline)'),
    },
  ]);
}
