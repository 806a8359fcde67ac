/**
 * Picks hosts. A mission's first activity, `claimHost`, runs on the shared task queue, and
 * whichever worker takes it answers with its own host's task queue: every later git activity of
 * the mission goes there, because the integration worktree lives on that host's disk (the
 * worker-specific task queue pattern of the Temporal samples). The queue is named after the host,
 * not the process, so a worker restarted after a crash picks up where the dead one was.
 *
 * With a shared origin (`origin:`), each task also claims a host of its own: `claimTaskHost` runs
 * on the placement queue, which a worker polls only while it has room for another agent (see
 * src/worker/placement.ts), so the task lands on a host with room, the least busy first.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { ErrorType } from '../mission/error-types';
import { hostOfQueue } from '../mission/types';
import { heartbeating } from './checks';
import type { ActivityConfig } from './config';
import { ensureClone } from '../git/origin';

export interface ClaimHostInput {
  /** The repository (a mission without `origin:`), or the origin as given (with one). */
  repo: string;
  /** The mission's shared origin: any host may take the mission; it works in its clone. */
  origin?: string;
}
export interface ClaimHostResult {
  taskQueue: string;
  hostname: string;
  /** The repository on that host: `repo`, or the host's clone of `origin`. */
  repo: string;
}

export interface ClaimTaskHostInput {
  origin: string;
  missionId: string;
  taskId: string;
}
export interface ClaimTaskHostResult {
  /** The host's task queue, where every activity of the task goes. */
  taskQueue: string;
  /** The host id (`FLOTILLA_HOST_ID`, else the hostname): what `status` shows as the task's host. */
  host: string;
  /** The host's clone of the origin (absolute path on that host). */
  repo: string;
  /** That worker's agents (running and reserved) before this claim, and its cap (null: none). */
  load: { agents: number; capacity: number | null };
}

export function createHostActivities(config: ActivityConfig) {
  return {
    /**
     * @throws a retryable ApplicationFailure `RepoNotOnHost` when this host cannot see the
     *   repository, so another worker may take the retry; GitError when the origin cannot be
     *   cloned
     */
    async claimHost(input: ClaimHostInput): Promise<ClaimHostResult> {
      if (input.origin) {
        const repo = await ensureClone(config.home, input.origin);
        return { taskQueue: config.hostQueue, hostname: os.hostname(), repo };
      }
      if (!existsSync(input.repo)) {
        throw ApplicationFailure.retryable(
          `repository ${input.repo} is not on host ${os.hostname()}`,
          ErrorType.RepoNotOnHost,
        );
      }
      return { taskQueue: config.hostQueue, hostname: os.hostname(), repo: input.repo };
    },

    /**
     * Takes the task for this host: reserves an agent slot for it (kept until its agent starts
     * here, or for a few minutes) and makes sure the host has its clone of the origin.
     * @throws a retryable `HostFull` when this worker already runs (or has reserved) as many
     *   agents as its `--agents` cap, or is draining; GitError when the origin cannot be cloned
     */
    async claimTaskHost(input: ClaimTaskHostInput): Promise<ClaimTaskHostResult> {
      const slots = config.agents;
      // The task workflow's id: its agent attempts here carry the same one and take the reservation over.
      const key = Context.current().info.workflowExecution?.workflowId ?? `${input.missionId}/${input.taskId}`;
      const before = slots?.load();
      if (slots && !slots.reserve(key)) {
        throw ApplicationFailure.retryable(
          slots.draining
            ? `host ${hostOfQueue(config.hostQueue)} is draining`
            : `host ${hostOfQueue(config.hostQueue)} is full (${before!.running} agents running, ${before!.reserved} reserved, takes ${slots.placementCapacity})`,
          ErrorType.HostFull,
        );
      }
      try {
        // The first claim on a host clones the origin, which may take minutes: heartbeat meanwhile.
        const repo = await heartbeating(() => ensureClone(config.home, input.origin));
        Context.current().log.info('task placed on this host', { task: key, load: before });
        return {
          taskQueue: config.hostQueue,
          host: hostOfQueue(config.hostQueue),
          repo,
          load: { agents: (before?.running ?? 0) + (before?.reserved ?? 0), capacity: before?.capacity ?? null },
        };
      } catch (err) {
        slots?.unreserve(key);
        throw err;
      }
    },
  };
}
