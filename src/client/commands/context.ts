/**
 * What every command that talks to Temporal shares: the connection (with the explanation when
 * there is none), and, for commands about one mission, that mission described once, its progress,
 * and the mapping of what can go wrong to exit codes (unknown mission 4, ended 1, rejected 2).
 */
import { Client, Connection, WorkflowHandle, WorkflowUpdateFailedError } from '@temporalio/client';
import type { MissionProgress } from '../../mission/progress';
import { FlotillaConfig } from '../config';
import { CliError, EXIT } from '../errors';
import { Ask, DescribedMission, describeMission, endedAs, finalProgress, progressOf } from '../missions';
import { workerPolling } from '../visibility';
import { withWorkflowWorker } from '../workers';

/** Prints a line to stdout. */
export const say = (line: string): void => void process.stdout.write(`${line}\n`);
/** Prints a line to stderr. */
export const warn = (line: string): void => void process.stderr.write(`${line}\n`);

export interface Connected {
  connection: Connection;
  client: Client;
  config: FlotillaConfig;
}

/**
 * Connects to the Temporal service of `config`.
 * @throws CliError exit 1 saying how to start one when none answers within 5 s
 */
export async function connect(config: FlotillaConfig): Promise<Connected> {
  try {
    const connection = await Connection.connect({ ...config.connection, connectTimeout: 5000 });
    return { connection, client: new Client({ connection, namespace: config.namespace }), config };
  } catch (err) {
    throw unreachable(config, err);
  }
}

/**
 * The error for a Temporal service that did not answer a client's or a worker's connection
 * (`err`, the SDK's: a gRPC status or the worker core's `tonic::transport::Error` text): exit 1
 * and what to do, never the transport's raw text unless TLS or an API key may be the cause.
 */
export function unreachable(config: FlotillaConfig, err: unknown): CliError {
  // With TLS or an API key, "unreachable" is often a refused certificate or key: say which.
  const secured = config.connection.tls || config.connection.apiKey;
  return new CliError(
    secured
      ? `cannot connect to Temporal at ${config.address} (${(err as Error).message}); check TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS or API key settings`
      : `cannot reach Temporal at ${config.address}; start it with \`flotilla server\` (or \`flotilla run\`, which starts it), or set TEMPORAL_ADDRESS`,
    EXIT.failed,
  );
}

/** Runs `fn` connected, and closes the connection after it. */
export async function withConnection<T>(config: FlotillaConfig, fn: (c: Connected) => Promise<T>): Promise<T> {
  const connected = await connect(config);
  try {
    return await fn(connected);
  } finally {
    await connected.connection.close();
  }
}

/** One mission, as a control command sees it: described once, on first need. */
export class MissionContext {
  private described?: Promise<DescribedMission>;

  constructor(
    readonly connected: Connected,
    readonly missionId: string,
  ) {}

  get client(): Client {
    return this.connected.client;
  }
  get config(): FlotillaConfig {
    return this.connected.config;
  }

  /** The mission's handle and description. @throws CliError exit 4 for an unknown mission */
  describe(): Promise<DescribedMission> {
    return (this.described ??= describeMission(this.client, this.config, this.missionId));
  }

  async handle(): Promise<WorkflowHandle> {
    return (await this.describe()).handle;
  }

  /** Whether the mission's workflow runs. @throws CliError exit 4 for an unknown mission */
  async running(): Promise<boolean> {
    return (await this.describe()).description.status.name === 'RUNNING';
  }

  /** Runs a query or an update with a worker to answer it (a workflow-only one when none polls). */
  readonly ask: Ask = (fn) => withWorkflowWorker(this.connected.connection, this.config, fn);

  /** The mission's progress, running or ended, also when no worker runs. */
  async progress(): Promise<MissionProgress> {
    return progressOf(this.client, this.config, await this.describe(), this.ask);
  }

  /** Whether a worker other than this process's polls the mission's task queue. */
  workerPolling(): Promise<boolean> {
    return workerPolling(this.connected.connection, this.config.namespace, this.config.taskQueue);
  }

  /**
   * Checks that the mission exists and runs, before a command touches it.
   * @throws CliError exit 4 for an unknown mission, exit 1 for one that has ended (saying how)
   */
  async requireRunning(verb: string): Promise<void> {
    if (await this.running()) return;
    const { handle, description } = await this.describe();
    const how = await finalProgress(handle, description, this.config, this.ask).then(
      (ended) => endedAs(ended.progress),
      () => description.status.name.toLowerCase(),
    );
    throw new CliError(`mission "${this.missionId}" has ended (${how}); there is nothing to ${verb}`, EXIT.failed);
  }

  /**
   * Sends what a signal carries to the running mission. Signals cannot be rejected by the
   * workflow, so `check` (a reason the request makes no sense, or null) runs on its progress first.
   * @throws CliError exit 4 unknown, 1 ended, 2 when `check` objects
   */
  async signal(
    verb: string,
    send: (handle: WorkflowHandle) => Promise<void>,
    check?: (p: MissionProgress) => string | null,
  ): Promise<void> {
    await this.requireRunning(verb);
    if (check) {
      const why = check(await this.progress());
      if (why) throw new CliError(why, EXIT.invalid);
    }
    await send(await this.handle());
  }

  /**
   * Sends an update to the running mission and returns its result.
   * @throws CliError exit 2 with the validator's reason when the mission rejects it (an unknown
   *   task, a running task retried); exit 4 unknown; exit 1 ended
   */
  async update<T>(verb: string, send: (handle: WorkflowHandle) => Promise<T>): Promise<T> {
    await this.requireRunning(verb);
    const handle = await this.handle();
    try {
      return await this.ask(() => send(handle));
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const cause = err.cause as Error | undefined;
        throw new CliError(`cannot ${verb}: ${cause?.message ?? err.message}`, EXIT.invalid);
      }
      throw err;
    }
  }
}

/** Runs `fn` with the mission `missionId` of a fresh connection, closed after it. */
export function withMission<T>(
  config: FlotillaConfig,
  missionId: string,
  fn: (mission: MissionContext) => Promise<T>,
): Promise<T> {
  return withConnection(config, (connected) => fn(new MissionContext(connected, missionId)));
}
