/**
 * A real Temporal dev server for integration tests: the SDK's `TestWorkflowEnvironment.createLocal`
 * running the `temporal` CLI found (or installed) the way Flotilla finds it, with Flotilla's search
 * attributes registered. No mocks.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { ensureTemporalCli } from '../../src/client/server';
import { SEARCH_ATTRIBUTE_TYPES, SEARCH_ATTRIBUTES } from '../../src/mission/types';

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

/** The Temporal CLI's names of search attribute types (`--search-attribute Name=Type`). */
const CLI_TYPE: Record<string, string> = {
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  KEYWORD_LIST: 'KeywordList',
};

/** A dev server on `port` (any free one when omitted): its address is `127.0.0.1:<port>`. */
export async function startDevServer(port?: number, extraArgs: string[] = []): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const cli = ensureTemporalCli((line) => console.log(line));
  if (!cli) throw new Error('tests need the Temporal CLI (or Go to install it)');
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      ip: '127.0.0.1',
      port,
      extraArgs: [
        ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, n]) => [
          '--search-attribute',
          `${n}=${CLI_TYPE[SEARCH_ATTRIBUTE_TYPES[k as keyof typeof SEARCH_ATTRIBUTES]]}`,
        ]),
        ...extraArgs,
      ],
    },
  });
}
