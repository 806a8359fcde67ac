/**
 * The frame of an e2e suite that drives the real CLI against a dev server of its own: one
 * Temporal dev server per test file (started in `beforeAll`, torn down in `afterAll`), a
 * FLOTILLA_HOME and a scratch folder, the CLI environment that points at them, and the CLI
 * processes a test started, SIGKILLed after each test (a failed test leaves none running).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { CliOptions, CliProcess, CliResult, runCli, spawnCli } from './cli';
import { tempDir } from './git';
import { startDevServer } from './temporal';

export interface CliSuiteOptions {
  /** FLOTILLA_TASK_QUEUE (default `flotilla-<name>`): suites never share a task queue. */
  queue?: string;
  /** Added to every CLI call's environment (after the suite's own variables). */
  env?: NodeJS.ProcessEnv;
  /** Each CLI call's SIGKILL deadline, ms (default 180 000). */
  timeoutMs?: number;
}

export interface CliSuite {
  /** FLOTILLA_HOME of every CLI call (a fresh temp dir). */
  readonly home: string;
  /** A fresh temp dir for the suite's mission files and repositories. */
  readonly dir: string;
  /** The suite's dev server; only inside tests and hooks (it starts in `beforeAll`). */
  readonly env: TestWorkflowEnvironment;
  /** TEMPORAL_ADDRESS, FLOTILLA_HOME, FLOTILLA_TASK_QUEUE and the suite's `env`. */
  cliEnv(): NodeJS.ProcessEnv;
  /** Runs the CLI to its end with {@link cliEnv} (plus `opts.env`). */
  flotilla(args: string[], opts?: CliOptions): Promise<CliResult>;
  /** Starts the CLI with {@link cliEnv}; SIGKILLed after the test if still running. */
  spawnFlotilla(args: string[], opts?: CliOptions): CliProcess;
}

/** Registers the suite's hooks (call at the top level of a test file) and returns its frame. */
export function cliSuite(name: string, opts: CliSuiteOptions = {}): CliSuite {
  let server: TestWorkflowEnvironment | undefined;
  const started: CliProcess[] = [];
  const home = tempDir(`flotilla-${name}-home-`);
  const dir = tempDir(`flotilla-${name}-`);
  const cliEnv = (): NodeJS.ProcessEnv => ({
    TEMPORAL_ADDRESS: suite.env.address,
    FLOTILLA_HOME: home,
    FLOTILLA_TASK_QUEUE: opts.queue ?? `flotilla-${name}`,
    ...opts.env,
  });
  const options = (o: CliOptions): CliOptions => ({
    timeoutMs: opts.timeoutMs ?? 180_000,
    ...o,
    env: { ...cliEnv(), ...o.env },
  });
  const killStarted = async (): Promise<void> => {
    for (const cli of started.splice(0)) {
      cli.kill('SIGKILL');
      await cli.result;
    }
  };
  const suite: CliSuite = {
    home,
    dir,
    get env(): TestWorkflowEnvironment {
      if (!server) throw new Error('the dev server starts in beforeAll: use suite.env inside tests and hooks');
      return server;
    },
    cliEnv,
    flotilla: (args, o = {}) => runCli(args, options(o)),
    spawnFlotilla: (args, o = {}) => {
      const cli = spawnCli(args, options(o));
      started.push(cli);
      return cli;
    },
  };
  beforeAll(async () => {
    server = await startDevServer();
  }, 180_000);
  afterEach(killStarted);
  afterAll(async () => {
    await killStarted();
    await server?.teardown();
  });
  return suite;
}
