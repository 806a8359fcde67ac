/**
 * Which workers a CLI command may rely on (`workerPolling`): a standalone `flotilla worker` yes;
 * another `run`'s in-process worker only when the command does not need it to stay (it leaves
 * with its mission); a short-lived query worker never. And `missionWorkflow` is started by
 * reference under the type name every recorded history uses.
 */
import type { Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import os from 'node:os';
import { workerPolling } from '../../src/client/visibility';
import { missionWorkflow } from '../../src/workflows';

function pollers(...identities: string[]): Connection {
  const now = { seconds: Math.floor(Date.now() / 1000) };
  return {
    workflowService: {
      describeTaskQueue: async () => ({ pollers: identities.map((identity) => ({ identity, lastAccessTime: now })) }),
    },
  } as unknown as Connection;
}

test('standalone workers count; in-process ones unless standaloneOnly; query workers and dead ones never', async () => {
  const other = spawn('sleep', ['30']);
  try {
    const host = os.hostname();
    const ask = (ids: string[], standaloneOnly = false) =>
      workerPolling(pollers(...ids), 'default', 'q', { standaloneOnly });
    expect(await ask([`${other.pid}@${host}`])).toBe(true);
    expect(await ask([`${other.pid}@${host}`], true)).toBe(true);
    expect(await ask([`${other.pid}@${host} in-process`])).toBe(true);
    expect(await ask([`${other.pid}@${host} in-process`], true)).toBe(false);
    expect(await ask([`${other.pid}@${host} query`])).toBe(false);
    // This process's own workers, and a worker whose process is gone.
    expect(await ask([`${process.pid}@${host}`])).toBe(false);
    expect(await ask([`999999999@${host}`])).toBe(false);
    // Elsewhere: seen in the last 90 s.
    expect(await ask(['123@another-host'])).toBe(true);
  } finally {
    other.kill();
  }
});

test('missionWorkflow is started under the type name its histories record', () => {
  expect(missionWorkflow.name).toBe('missionWorkflow');
});
