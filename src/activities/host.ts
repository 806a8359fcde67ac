/**
 * Picks the host for a mission: the first activity of every mission runs on the shared task
 * queue, and whichever worker takes it answers with its own host's task queue. Every later git or
 * agent activity goes there, because the repository and the worktrees live on that host's disk
 * (the worker-specific task queue pattern of the Temporal samples). The queue is named after the
 * host, not the process, so a worker restarted after a crash picks up where the dead one was.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { ErrorType } from '../mission/error-types';
import type { ActivityConfig } from './config';

export interface ClaimHostInput {
  repo: string;
}
export interface ClaimHostResult {
  taskQueue: string;
  hostname: string;
}

export function createHostActivities(config: ActivityConfig) {
  return {
    /**
     * @throws a retryable ApplicationFailure `RepoNotOnHost` when this host cannot see the
     *   repository, so another worker may take the retry
     */
    async claimHost(input: ClaimHostInput): Promise<ClaimHostResult> {
      if (!existsSync(input.repo)) {
        throw ApplicationFailure.retryable(
          `repository ${input.repo} is not on host ${os.hostname()}`,
          ErrorType.RepoNotOnHost,
        );
      }
      return { taskQueue: config.hostQueue, hostname: os.hostname() };
    },
  };
}
