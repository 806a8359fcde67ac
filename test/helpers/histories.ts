/**
 * Replay guard for integration suites: every closed workflow a suite ran on its task queue must
 * replay against the current workflow code. `FLOTILLA_RECORD_HISTORIES=1` also writes the chosen
 * ones to test/fixtures/histories/current, which test/unit/replay.test.ts replays on every run.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { workflowBundle } from './bundle';

/** Replays the suite's closed workflows; returns how many replayed. `record` picks the fixtures. */
export async function replayRecorded(env: TestWorkflowEnvironment, taskQueue: string, record: RegExp): Promise<number> {
  const { Worker } = await import('@temporalio/worker');
  const { historyToJSON } = await import('@temporalio/common/lib/proto-utils');
  const executions = env.client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus != 'Running'` });
  const histories: Array<{ workflowId: string; history: unknown }> = [];
  for await (const h of executions.intoHistories()) histories.push(h);
  const results = Worker.runReplayHistories(
    { workflowBundle: await workflowBundle(), replayName: 'suite' },
    histories as never,
  );
  let replayed = 0;
  for await (const r of results) {
    if (r.error) {
      // Kept for whoever investigates: `temporal workflow show --output json` format.
      const h = histories.find((x) => x.workflowId === r.workflowId)!;
      const file = path.join(
        __dirname,
        '..',
        '..',
        'test-artifacts',
        `${r.workflowId.replace(/[/]/g, '__')}.history.json`,
      );
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, historyToJSON(h.history as never));
      throw new Error(`${r.workflowId} does not replay (history in ${file}): ${r.error.message}`);
    }
    replayed++;
  }
  if (process.env.FLOTILLA_RECORD_HISTORIES) {
    const dir = path.join(__dirname, '..', 'fixtures', 'histories', 'current');
    mkdirSync(dir, { recursive: true });
    for (const h of histories) {
      if (!record.test(h.workflowId)) continue;
      // proto3 JSON, the format of `temporal workflow show --output json`
      writeFileSync(path.join(dir, `${h.workflowId.replace(/[/]/g, '__')}.json`), historyToJSON(h.history as never));
    }
  }
  return replayed;
}
