/**
 * The workflow code bundled once per test file (webpack takes seconds): replay tests, the
 * integration suites' replay guard and the fast workflow suite share it.
 */
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

let bundled: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The bundle of src/workflows, built on the first call in this test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundled ??= import('@temporalio/worker').then(({ bundleWorkflowCode }) =>
    bundleWorkflowCode({
      workflowsPath: require.resolve('../../src/workflows'),
      // webpack's progress and size notes are noise in test output; errors still show.
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
    }),
  );
  return bundled;
}
