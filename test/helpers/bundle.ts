/**
 * The workflow code bundled once (webpack takes seconds) for the replay tests, the integration
 * suites' replay guard and the fast workflow suite. Within a test file the bundle is built once;
 * across test files (and runs) it is reused from the system's temp folder while nothing it could
 * contain has changed: the key hashes every file under src/ and package-lock.json.
 */
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
let bundled: Promise<WorkflowBundleWithSourceMap> | undefined;

/** A hash of everything the bundle is built from. */
function sourceKey(): string {
  const hash = createHash('sha256');
  const files = readdirSync(path.join(root, 'src'), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .sort();
  for (const f of files)
    hash
      .update(f)
      .update('\0')
      .update(readFileSync(path.join(root, 'src', f)))
      .update('\0');
  hash.update(readFileSync(path.join(root, 'package-lock.json')));
  return hash.digest('hex').slice(0, 16);
}

async function build(): Promise<WorkflowBundleWithSourceMap> {
  const cache = path.join(os.tmpdir(), `flotilla-workflow-bundle-${sourceKey()}.json`);
  if (existsSync(cache)) {
    try {
      return JSON.parse(readFileSync(cache, 'utf8')) as WorkflowBundleWithSourceMap;
    } catch {
      // A torn or foreign file: build again below.
    }
  }
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const bundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    // webpack's progress and size notes are noise in test output; errors still show.
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
  });
  // Written aside and renamed: a test file in another worker never reads half a bundle.
  const tmp = `${cache}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify(bundle));
  renameSync(tmp, cache);
  return bundle;
}

/** The bundle of src/workflows (built on the first call in this test file unless cached). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundled ??= build();
  return bundled;
}
