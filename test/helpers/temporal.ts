/**
 * A real Temporal dev server for integration tests: the SDK's `TestWorkflowEnvironment.createLocal`
 * running the `temporal` CLI found (or installed) the way Flotilla finds it, with Flotilla's search
 * attributes registered. No mocks.
 */
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { searchAttributeFlags } from '../../src/client/search-attributes';
import { ensureTemporalCli } from '../../src/client/server';

let installed = false;

export function quietRuntime(): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new DefaultLogger(process.env.FLOTILLA_TEST_LOG ? 'INFO' : 'ERROR') });
  } catch {
    // Already installed by another test file in this process.
  }
}

/**
 * A dev server on `port` (any free one when omitted): its address is `127.0.0.1:<port>`. It has
 * Flotilla's search attributes registered, as the one `flotilla run` starts, so tests may start
 * missions directly (the workflows set them); with `attributes: false`, none (one started by hand).
 */
export async function startDevServer(
  port?: number,
  extraArgs: string[] = [],
  { attributes = true }: { attributes?: boolean } = {},
): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const cli = ensureTemporalCli((line) => console.log(line));
  if (!cli) throw new Error('tests need the Temporal CLI (or Go to install it)');
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      ip: '127.0.0.1',
      port,
      extraArgs: [...(attributes ? searchAttributeFlags() : []), ...extraArgs],
    },
  });
}

const T = temporal.api.enums.v1.IndexedValueType;

/**
 * Flotilla's search attributes with the types the service must list for them, written out as the
 * README's table has them (not derived from `SEARCH_ATTRIBUTE_TYPES`, which registration uses).
 */
export const EXPECTED_ATTRIBUTE_TYPES = {
  FlotillaMissionId: T.INDEXED_VALUE_TYPE_KEYWORD,
  FlotillaTaskId: T.INDEXED_VALUE_TYPE_KEYWORD,
  FlotillaPhase: T.INDEXED_VALUE_TYPE_KEYWORD,
  FlotillaProgress: T.INDEXED_VALUE_TYPE_INT,
  FlotillaCostUsd: T.INDEXED_VALUE_TYPE_DOUBLE,
  FlotillaRepo: T.INDEXED_VALUE_TYPE_KEYWORD,
  FlotillaRuntime: T.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};
