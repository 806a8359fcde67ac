/**
 * Determinism guard: histories recorded by the integration suite (test/fixtures/histories) must
 * replay against the current workflow code. A change that breaks this would break running
 * missions: put it behind `patched()` instead.
 */
import { Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { workflowBundle } from '../helpers/bundle';
import { quietRuntime } from '../helpers/temporal';

// One folder per era of the workflow code (`before-control`: recorded before pause --now, steer,
// retry, skip and WIP checkpoints; `before-story`: before the mission workflow ended Canceled or
// Failed as its outcome (docs/architecture.md); `before-queue`: before the merge queue, merging wave
// by wave; `before-details`: before missions kept their phase, progress and cost as search
// attributes (`story-attributes`); `current`: the latest). Every one must keep replaying.
const dir = path.join(__dirname, '..', 'fixtures', 'histories');
const files = readdirSync(dir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.json'));

// Bundled once, and replayed by one replay worker (`runReplayHistories`): webpack and a worker per
// history were most of this suite's time. Each file still gets its own test below.
const errors = new Map<string, unknown>();
beforeAll(async () => {
  quietRuntime();
  const bundle: WorkflowBundleWithSourceMap = await workflowBundle();
  const histories = files.map((file) => ({
    // The file name stands in for the workflow id: the result names the history by it.
    workflowId: file,
    history: JSON.parse(readFileSync(path.join(dir, file), 'utf8')),
  }));
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, replayName: 'fixtures' }, histories))
    if (result.error) errors.set(result.workflowId, result.error);
}, 300_000);

test('fixtures exist for mission and task workflows', () => {
  expect(files.some((f) => !f.includes('__task-'))).toBe(true);
  expect(files.some((f) => f.includes('__task-'))).toBe(true);
});

test.each(files)('%s replays', (file) => {
  const error = errors.get(file);
  if (error) throw error;
});
