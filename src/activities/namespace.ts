/**
 * The `releaseNamespace` activity: ends a task's runtime namespace on its host (the slot, ports
 * and temp folder src/agents/namespace.ts reserved for its setup, agent and gate), called by the
 * task workflow when the task ends, whatever the outcome.
 */
import { releaseNamespace } from '../agents/namespace';
import type { NamespaceRequest } from '../mission/types';
import type { ActivityConfig } from './config';

export function createNamespaceActivities(config: Pick<ActivityConfig, 'home'>) {
  return {
    /** Releases `input`'s reservation on this host (its run's only); nothing reserved is success. Idempotent. */
    async releaseNamespace(input: Omit<NamespaceRequest, 'ports'>): Promise<void> {
      await releaseNamespace(config.home, input);
    },
  };
}
