/**
 * Determinism guard: the histories recorded by the integration suite must replay against the
 * current workflow code. A change that breaks this would break running missions: from 1.0 on it
 * goes behind `patched()` with an era recorded before it, or ships as a new Worker Deployment
 * version (docs/architecture.md, "Versioning"). And the guard must be able to fail: the same
 * histories replayed against the workflows with one command more fail with a
 * DeterminismViolationError.
 */
import { bundleWorkflowCode, Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { workflowBundle } from '../helpers/bundle';
import { CURRENT_ERA } from '../helpers/histories';
import { quietRuntime } from '../helpers/temporal';

// One folder per era of the workflow code. Today there is one, `current/`: the workflows as they
// are, recorded afresh before 1.0. From 1.0 on, a change behind `patched()` keeps the era recorded
// before it in a folder of its own until no running mission can need it; every era replays.
const dir = path.dirname(CURRENT_ERA);
const files = readdirSync(dir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.json'))
  .sort();
const history = (file: string): unknown => JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
const current = (file: string): boolean => path.dirname(path.join(dir, file)) === CURRENT_ERA;

// Bundled once, and replayed by one replay worker (`runReplayHistories`): webpack and a worker per
// history were most of this suite's time. Each file still gets its own test below.
const errors = new Map<string, unknown>();
beforeAll(async () => {
  quietRuntime();
  const bundle: WorkflowBundleWithSourceMap = await workflowBundle();
  // The file name stands in for the workflow id: the result names the history by it.
  const histories = files.map((file) => ({ workflowId: file, history: history(file) }));
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, replayName: 'fixtures' }, histories))
    if (result.error) errors.set(result.workflowId, result.error);
}, 300_000);

test('the current era has fixtures of mission and task workflows', () => {
  expect(files.some((f) => current(f) && !f.includes('__task-'))).toBe(true);
  expect(files.some((f) => current(f) && f.includes('__task-'))).toBe(true);
});

test.each(files)('%s replays', (file) => {
  const error = errors.get(file);
  if (error) throw error;
});

test('a workflow changed by one command does not replay: the guard fails on a nondeterministic change', async () => {
  const altered = await bundleWorkflowCode({
    workflowsPath: require.resolve('../fixtures/workflows/altered'),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
  });
  const mission = files.find((f) => current(f) && !f.includes('__task-'))!;
  const task = files.find((f) => current(f) && f.includes('__task-'))!;
  for (const file of [mission, task]) {
    // The same history replays against the real workflows (above), and not against the altered ones.
    expect(errors.get(file)).toBeUndefined();
    await expect(
      Worker.runReplayHistory({ workflowBundle: altered, replayName: 'altered' }, history(file) as never, file),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  }
}, 300_000);
