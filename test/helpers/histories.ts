/**
 * Replay guard for integration suites: every closed workflow a suite ran on its task queue must
 * replay against the current workflow code.
 *
 * Recording the replay fixtures (docs/architecture.md, "Versioning"): with
 * `FLOTILLA_RECORD_HISTORIES=1`, each suite also writes the histories its `record` pattern picks
 * to test/fixtures/histories/current, which test/unit/replay.test.ts replays on every run. One
 * file per run, named by workflow id (`/` written `__`): the first run of an id as `<id>.json`,
 * later runs of the same id (a task run again by `retry` or a fix round, a mission continued as new
 * or reopened) as `<id>~2.json`, `<id>~3.json`, in the order they started. To record the era
 * afresh, delete the folder's files first, then run `FLOTILLA_RECORD_HISTORIES=1 npx jest
 * test/integration` once, after the last change to workflow code.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { workflowBundle } from './bundle';

/** Where `FLOTILLA_RECORD_HISTORIES=1` writes: the one era the replay test replays. */
export const CURRENT_ERA = path.join(__dirname, '..', 'fixtures', 'histories', 'current');

type Recorded = { workflowId: string; history: { events?: Array<{ eventTime?: unknown }> | null } };

/** When the run started (its first event's time), ms since the epoch; 0 when unknown. */
function startedAt(h: Recorded): number {
  const t = h.history.events?.[0]?.eventTime as { seconds?: number | { toNumber(): number }; nanos?: number } | null;
  if (!t) return 0;
  const seconds = typeof t.seconds === 'number' ? t.seconds : (t.seconds?.toNumber() ?? 0);
  return seconds * 1000 + (t.nanos ?? 0) / 1e6;
}

/** The fixture file of each recorded run: see the module's comment. */
export function fixtureNames(histories: Recorded[]): Map<Recorded, string> {
  const byId = new Map<string, Recorded[]>();
  for (const h of histories) byId.set(h.workflowId, [...(byId.get(h.workflowId) ?? []), h]);
  const names = new Map<Recorded, string>();
  for (const [id, runs] of byId) {
    const base = id.replace(/[/]/g, '__');
    runs
      .sort((a, b) => startedAt(a) - startedAt(b))
      .forEach((h, i) => names.set(h, i === 0 ? `${base}.json` : `${base}~${i + 1}.json`));
  }
  return names;
}

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
    mkdirSync(CURRENT_ERA, { recursive: true });
    const chosen = (histories as Recorded[]).filter((h) => record.test(h.workflowId));
    for (const [h, name] of fixtureNames(chosen))
      // proto3 JSON, the format of `temporal workflow show --output json`
      writeFileSync(path.join(CURRENT_ERA, name), historyToJSON(h.history as never));
  }
  return replayed;
}
