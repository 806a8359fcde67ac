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

// Bundled once for every fixture (webpack is most of a replay's cost).
let bundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  quietRuntime();
  bundle = await workflowBundle();
}, 120_000);

test('fixtures exist for mission and task workflows', () => {
  expect(files.some((f) => !f.includes('__task-'))).toBe(true);
  expect(files.some((f) => f.includes('__task-'))).toBe(true);
});

test.each(files)(
  '%s replays',
  async (file) => {
    const history = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: bundle, replayName: file }, history);
  },
  60_000,
);
