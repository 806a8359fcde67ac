#!/usr/bin/env node
/**
 * The `flotilla` command line (DESIGN.md, "CLI"). Thin: parses arguments with commander, calls
 * the client operations in `missions.ts` and `server.ts`, prints, and exits with the codes of the
 * design: 0 completed, 1 failed/cancelled, 2 invalid input, 3 needs a human, 4 unknown mission.
 */
import { Client, Connection, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { MultiBar, Presets } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { MissionFileError } from '../mission/errors';
import { loadMission } from '../mission/load';
import type { MissionProgress } from '../mission/progress';
import { names, TERMINAL_PHASES } from '../mission/types';
import { createQueryWorker, createWorkers, FlotillaWorkers } from '../worker';
import { cancelSignal, pauseSignal, resumeSignal, retryUpdate, skipUpdate, steerUpdate } from '../workflows/messages';
import { FlotillaConfig, loadConfig, workflowUrl } from './config';
import {
  getProgress,
  listMissions,
  loadForStart,
  NoWorkerError,
  reopenMission,
  runningSince,
  startMission,
  workerPolling,
} from './missions';
import { progressEvents, renderPlan, renderStatus, renderSummary } from './render';
import { TranscriptRenderer, transcriptFiles } from './transcript';
import {
  CliError,
  ensureSearchAttributes,
  ensureTemporalCli,
  readServerRecord,
  startDevArgs,
  startEmbeddedServer,
  stopEmbeddedServer,
  temporalReachable,
} from './server';

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const warn = (line: string): void => void process.stderr.write(`${line}\n`);

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}

async function connectOrExplain(config: FlotillaConfig): Promise<{ connection: Connection; client: Client }> {
  try {
    const connection = await Connection.connect({ address: config.address, connectTimeout: 5000 });
    return { connection, client: new Client({ connection, namespace: config.namespace }) };
  } catch {
    throw new CliError(
      `cannot reach Temporal at ${config.address}; start it with \`flotilla server\` (or \`flotilla run\`, which starts it), or set TEMPORAL_ADDRESS`,
      1,
    );
  }
}

/** Makes sure a Temporal service answers, starting the embedded dev server when the address is local. */
async function ensureService(config: FlotillaConfig): Promise<{ embedded: boolean }> {
  if (await temporalReachable(config.address)) return { embedded: false };
  say(`no Temporal service at ${config.address}: starting the embedded dev server (SQLite in ${config.home})`);
  const rec = await startEmbeddedServer(config, say);
  say(
    `  Temporal dev server up at ${rec.address}, Web UI http://localhost:${rec.uiPort} (it stays up; stop it with \`flotilla server stop\`)`,
  );
  return { embedded: true };
}

let runtimeInstalled = false;
/** The SDK's runtime logs to a file for in-process workers (the terminal shows progress instead). */
function installRuntime(config: FlotillaConfig, toFile: boolean): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  if (!toFile) {
    Runtime.install({ logger: new DefaultLogger('INFO') });
    return;
  }
  mkdirSync(config.home, { recursive: true });
  const file = path.join(config.home, 'worker.log');
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => {
      appendFileSync(
        file,
        `${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} ${entry.level} ${entry.message} ${entry.meta ? JSON.stringify(entry.meta) : ''}\n`,
      );
    }),
  });
}

async function startWorkers(
  config: FlotillaConfig,
  concurrency?: number,
): Promise<{ workers: FlotillaWorkers; done: Promise<void>; connection: NativeConnection }> {
  const connection = await NativeConnection.connect({ address: config.address });
  const workers = await createWorkers({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    home: config.home,
    concurrency,
  });
  const done = workers.run();
  return { workers, done, connection };
}

/** Whether the mission needs a human now: blocked, or paused with nothing left running. */
function needsHuman(p: MissionProgress): boolean {
  return p.phase === 'blocked' || (p.phase === 'paused' && p.counts.running === 0);
}

/**
 * A live progress bar (cli-progress) under the event lines when stdout is a terminal; plain event
 * lines otherwise (pipes, CI, tests).
 */
function progressDisplay(missionId: string): {
  line(text: string): void;
  update(p: MissionProgress): void;
  stop(): void;
} {
  if (!process.stdout.isTTY) return { line: say, update: () => undefined, stop: () => undefined };
  const multi = new MultiBar(
    {
      // {percentage}, {value} and {total} are cli-progress's own tokens; ours have other names.
      format: `${missionId} [{bar}] {percentage}% | {merged}/{tasks} merged | {wavesDone}/{waves} waves | {phase}{running}`,
      hideCursor: true,
      barsize: 24,
      clearOnComplete: true,
      autopadding: true,
    },
    Presets.shades_classic,
  );
  const bar = multi.create(100, 0, { merged: 0, tasks: 0, wavesDone: 0, waves: 0, phase: 'starting', running: '' });
  return {
    line: (text) => multi.log(`${text}\n`),
    update: (p) => {
      const running = p.tasks.filter((t) => t.status === 'running').map((t) => t.id);
      bar.update(p.percent, {
        merged: p.counts.merged,
        tasks: p.counts.total,
        wavesDone: p.waves.filter((w) => ['merged', 'failed', 'skipped', 'cancelled'].includes(w.status)).length,
        waves: p.waves.length,
        phase: p.phase,
        running: running.length ? ` | running: ${running.join(', ')}` : '',
      });
    },
    stop: () => multi.stop(),
  };
}

/**
 * Prints progress events until the mission ends or needs a human.
 * @returns the exit code of DESIGN.md for the final state
 */
async function follow(
  client: Client,
  config: FlotillaConfig,
  missionId: string,
  workerDone?: Promise<void>,
): Promise<number> {
  const started = Date.now();
  let prev: MissionProgress | undefined;
  let workerError: unknown;
  void workerDone?.catch((err) => (workerError = err));
  let misses = 0;
  const display = progressDisplay(missionId);
  try {
    for (;;) {
      if (workerError) throw workerError;
      let p: MissionProgress;
      try {
        p = await getProgress(client, config, missionId);
        misses = 0;
      } catch (err) {
        // A mission just started may not have had its first workflow task yet.
        if (err instanceof NoWorkerError && ++misses < 30) {
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        throw err;
      }
      for (const line of progressEvents(prev, p)) display.line(line);
      display.update(p);
      prev = p;
      if (TERMINAL_PHASES.includes(p.phase)) {
        display.stop();
        say(renderSummary(p, Date.now() - started));
        return p.phase === 'completed' ? 0 : 1;
      }
      if (needsHuman(p)) {
        display.stop();
        say(renderStatus(p));
        say(
          p.phase === 'blocked'
            ? `\nthe mission waits for you: ${p.reason}`
            : `\nthe mission is paused; continue it with \`flotilla resume ${missionId}\` and \`flotilla watch ${missionId}\``,
        );
        return 3;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    display.stop();
  }
}

/** Runs `follow` with an in-process worker when no worker polls the task queue. */
async function followWithWorker(
  client: Client,
  connection: Connection,
  config: FlotillaConfig,
  missionId: string,
): Promise<number> {
  let inProcess: Awaited<ReturnType<typeof startWorkers>> | undefined;
  if (!(await workerPolling(connection, config.namespace, config.taskQueue))) {
    installRuntime(config, true);
    inProcess = await startWorkers(config);
    say(
      `worker: in-process on task queues ${config.taskQueue} and ${inProcess.workers.hostQueue} (log: ${path.join(config.home, 'worker.log')})`,
    );
  }
  try {
    return await follow(client, config, missionId, inProcess?.done);
  } finally {
    if (inProcess) {
      inProcess.workers.shutdown();
      await inProcess.done.catch(() => undefined);
      await inProcess.connection.close();
    }
  }
}

/**
 * The progress of a mission, also when no worker runs (e.g. after `run` exited because the mission
 * waits for a human): queries need a worker, so a short-lived workflow-only worker answers then.
 * It runs no activity, so it cannot touch a repository.
 */
async function progressWithoutWorker(
  client: Client,
  connection: Connection,
  config: FlotillaConfig,
  missionId: string,
): Promise<MissionProgress> {
  const running = await client.workflow
    .getHandle(names.missionWorkflowId(missionId))
    .describe()
    .then((d) => d.status.name === 'RUNNING')
    .catch(() => false);
  if (!running) return getProgress(client, config, missionId);
  return withWorkflowWorker(connection, config, () => getProgress(client, config, missionId));
}

/**
 * Runs `fn` (a query or an update) with a worker to answer it: the workers already polling, or,
 * when none does, a short-lived workflow-only worker in this process. It runs no activity, so it
 * cannot touch a repository; what the answer starts (a retried task) waits for a real worker.
 */
async function withWorkflowWorker<T>(connection: Connection, config: FlotillaConfig, fn: () => Promise<T>): Promise<T> {
  if (await workerPolling(connection, config.namespace, config.taskQueue)) return fn();
  installRuntime(config, true);
  const native = await NativeConnection.connect({ address: config.address });
  try {
    const worker = await createQueryWorker({
      connection: native,
      namespace: config.namespace,
      taskQueue: config.taskQueue,
    });
    return await worker.runUntil(fn());
  } finally {
    await native.close();
  }
}

/**
 * The status of a mission's workflow (`RUNNING`, `COMPLETED`, ...).
 * @throws CliError exit 4 for an unknown mission
 */
async function missionStatus(client: Client, missionId: string): Promise<string> {
  try {
    return (await client.workflow.getHandle(names.missionWorkflowId(missionId)).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new CliError(`no mission "${missionId}" (see \`flotilla list\`)`, 4);
    throw err;
  }
}

/**
 * Checks that the mission exists and runs, before a control command touches it.
 * @throws CliError exit 4 for an unknown mission, exit 1 for one that has ended
 */
async function requireRunning(client: Client, missionId: string, verb: string): Promise<void> {
  const status = await missionStatus(client, missionId);
  if (status !== 'RUNNING')
    throw new CliError(`mission "${missionId}" has ended (${status.toLowerCase()}); there is nothing to ${verb}`, 1);
}

async function signalMission(
  config: FlotillaConfig,
  missionId: string,
  send: (client: Client) => Promise<void>,
  verb: string,
  /** A precondition on the mission's progress: the reason it makes no sense, or null. */
  check?: (p: MissionProgress) => string | null,
): Promise<{ workerPolling: boolean }> {
  const { client, connection } = await connectOrExplain(config);
  try {
    await requireRunning(client, missionId, verb);
    if (check) {
      // Signals cannot be rejected by the workflow, so the client checks what makes no sense.
      const why = check(await progressWithoutWorker(client, connection, config, missionId));
      if (why) throw new CliError(why, 2);
    }
    await send(client);
    return { workerPolling: await workerPolling(connection, config.namespace, config.taskQueue) };
  } finally {
    await connection.close();
  }
}

/**
 * `retry` on a mission that has ended failed reopens it (see `reopenMission`).
 * @returns false when the mission is still running (the retry goes as an update)
 */
async function reopenIfEnded(config: FlotillaConfig, missionId: string, taskId: string): Promise<boolean> {
  const { client, connection } = await connectOrExplain(config);
  try {
    if ((await missionStatus(client, missionId)) === 'RUNNING') return false;
    const { workflowId } = await reopenMission(client, missionId, taskId);
    say(`mission ${missionId} had ended failed; reopened it: task ${taskId} runs again, with what the failure skipped`);
    const url = workflowUrl(config, workflowId);
    if (url) say(`  Web UI: ${url}`);
    if (!(await workerPolling(connection, config.namespace, config.taskQueue)))
      say(`no worker is running: it goes on when one does (\`flotilla worker\` or \`flotilla watch ${missionId}\`)`);
    return true;
  } finally {
    await connection.close();
  }
}

/**
 * Sends an update to a running mission and returns its result. A request the mission's validator
 * rejects (unknown task, a running task retried) exits 2 with the validator's reason; an unknown
 * mission exits 4; an ended one exits 1.
 */
async function updateMission<T>(
  config: FlotillaConfig,
  missionId: string,
  verb: string,
  send: (client: Client) => Promise<T>,
): Promise<{ result: T; workerPolling: boolean }> {
  const { client, connection } = await connectOrExplain(config);
  try {
    await requireRunning(client, missionId, verb);
    const polling = await workerPolling(connection, config.namespace, config.taskQueue);
    try {
      return { result: await withWorkflowWorker(connection, config, () => send(client)), workerPolling: polling };
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const cause = err.cause as Error | undefined;
        throw new CliError(`cannot ${verb}: ${cause?.message ?? err.message}`, 2);
      }
      throw err;
    }
  } finally {
    await connection.close();
  }
}

export function buildProgram(): Command {
  const program = new Command('flotilla')
    .description('Run many AI coding agents on one git repository, durably, on Temporal.')
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride();

  program
    .command('validate')
    .description('validate a mission file and print its wave plan (needs no server)')
    .argument('<file>', 'mission file (YAML or JSON)')
    .option('--id <id>', 'mission id (overrides the file)')
    .action(async (file: string, opts: { id?: string }) => {
      const loaded = await loadMission(file, {
        idOverride: opts.id,
        checkRepo: true,
        scaffoldRoot: path.join(loadConfig().home, 'repos'),
      });
      say(renderPlan(loaded.spec, loaded.waves, path.relative(process.cwd(), loaded.file) || loaded.file));
      if (loaded.scaffoldDir) say(`  (the repository is created fresh from ${loaded.scaffoldDir} on each run)`);
      say('valid');
    });

  const startAction = (follow: boolean) => async (file: string, opts: { id?: string; detach?: boolean }) => {
    const config = loadConfig();
    // Bad input (schema, repository, base branch) fails here, before any server or worker starts.
    const validated = await loadMission(file, {
      idOverride: opts.id,
      checkRepo: true,
      scaffoldRoot: path.join(config.home, 'repos'),
    });
    const { embedded } = await ensureService(config);
    const { client, connection } = await connectOrExplain(config);
    try {
      // `run` again after the first one died (a crash, a closed terminal): the mission goes on in
      // Temporal, so follow it (with a worker, if none polls) instead of refusing to start it twice.
      const since = follow && !opts.detach ? await runningSince(client, validated.spec.id) : undefined;
      if (since) {
        const workflowId = names.missionWorkflowId(validated.spec.id);
        say(
          `mission ${validated.spec.id} is already running (workflow ${workflowId}, started ${since.toISOString()}): following it instead of starting it again`,
        );
        const url = workflowUrl(config, workflowId);
        if (url) say(`  Web UI: ${url}`);
        process.exitCode = await followWithWorker(client, connection, config, validated.spec.id);
        return;
      }
      const withAttributes = embedded || (await ensureSearchAttributes(connection, config.namespace));
      const loaded = await loadForStart(client, config, file, opts.id);
      const workflowId = await startMission(client, config, loaded, withAttributes);
      say(
        `started mission ${loaded.spec.id} (workflow ${workflowId}) on ${loaded.spec.repo}, base ${loaded.spec.base}`,
      );
      const url = workflowUrl(config, workflowId);
      if (url) say(`  Web UI: ${url}`);
      if (!follow || opts.detach) {
        if (!(await workerPolling(connection, config.namespace, config.taskQueue))) {
          say(
            `  no worker polls task queue ${config.taskQueue} yet: run \`flotilla worker\` or \`flotilla watch ${loaded.spec.id}\``,
          );
        }
        return;
      }
      process.exitCode = await followWithWorker(client, connection, config, loaded.spec.id);
    } finally {
      await connection.close();
    }
  };

  program
    .command('run')
    .description('validate, start and follow a mission until it ends (starts the dev server and a worker when needed)')
    .argument('<file>', 'mission file (YAML or JSON)')
    .option('--id <id>', 'mission id (overrides the file)')
    .option('--detach', 'start and return without following')
    .action(startAction(true));

  program
    .command('start')
    .description('start a mission and print its id and Web UI link')
    .argument('<file>', 'mission file (YAML or JSON)')
    .option('--id <id>', 'mission id (overrides the file)')
    .action(startAction(false));

  program
    .command('status')
    .description("a mission's progress")
    .argument('<id>', 'mission id')
    .option('--json', 'print the status --json shape of DESIGN.md')
    .action(async (id: string, opts: { json?: boolean }) => {
      const config = loadConfig();
      const { client, connection } = await connectOrExplain(config);
      try {
        const p = await progressWithoutWorker(client, connection, config, id);
        say(opts.json ? JSON.stringify(p, null, 2) : renderStatus(p));
      } finally {
        await connection.close();
      }
    });

  program
    .command('watch')
    .description('follow a mission until it ends (runs a worker in-process if none polls)')
    .argument('<id>', 'mission id')
    .action(async (id: string) => {
      const config = loadConfig();
      const { client, connection } = await connectOrExplain(config);
      try {
        await getProgress(client, config, id).catch((err) => {
          if (err instanceof CliError && err.exitCode === 4) throw err;
        });
        process.exitCode = await followWithWorker(client, connection, config, id);
      } finally {
        await connection.close();
      }
    });

  program
    .command('list')
    .description('missions, newest first')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const { client, connection } = await connectOrExplain(config);
      try {
        const missions = await listMissions(client);
        if (opts.json) say(JSON.stringify(missions, null, 2));
        else if (missions.length === 0) say('no missions yet: flotilla run <mission.yaml>');
        else
          for (const m of missions)
            say(
              `${m.missionId.padEnd(24)} ${(m.phase ?? m.status).padEnd(10)} started ${m.startedAt}${m.closedAt ? `  ended ${m.closedAt}` : ''}`,
            );
      } finally {
        await connection.close();
      }
    });

  program
    .command('pause')
    .description('soft pause: running tasks finish, no new task starts (--now: also stop running agents)')
    .argument('<id>', 'mission id')
    .option('--now', 'also stop running agents after a checkpoint; `resume` resumes their sessions')
    .option('--reason <text>', 'shown in status')
    .action(async (id: string, opts: { reason?: string; now?: boolean }) => {
      const config = loadConfig();
      await signalMission(
        config,
        id,
        (c) =>
          c.workflow
            .getHandle(names.missionWorkflowId(id))
            .signal(pauseSignal, { reason: opts.reason, now: !!opts.now }),
        'pause',
        (p) =>
          !p.paused
            ? null
            : !opts.now
              ? `mission ${id} is already paused${p.counts.running > 0 ? `; \`flotilla pause ${id} --now\` also stops its ${p.counts.running} running agent(s)` : ''}`
              : p.counts.running === 0
                ? `mission ${id} is already paused and no agent is running`
                : null,
      );
      say(
        opts.now
          ? `mission ${id}: pause requested; running agents are checkpointed and stopped (\`flotilla resume ${id}\` resumes their sessions)`
          : `mission ${id}: pause requested (running tasks finish; nothing new starts until \`flotilla resume ${id}\`)`,
      );
    });

  program
    .command('resume')
    .description('continue a paused mission, or retry what a blocked mission waits on')
    .argument('<id>', 'mission id')
    .action(async (id: string) => {
      const config = loadConfig();
      const { workerPolling: polling } = await signalMission(
        config,
        id,
        (c) => c.workflow.getHandle(names.missionWorkflowId(id)).signal(resumeSignal),
        'resume',
        (p) =>
          p.phase === 'paused' || p.phase === 'blocked'
            ? null
            : `mission ${id} is ${p.phase}, neither paused nor blocked: there is nothing to resume`,
      );
      say(`mission ${id}: resumed`);
      if (!polling)
        say(
          `no worker is running: the mission goes on when one does (\`flotilla worker\` or \`flotilla watch ${id}\`)`,
        );
    });

  program
    .command('cancel')
    .description('cancel a mission: running agents are killed, worktrees and branches are kept')
    .argument('<id>', 'mission id')
    .option('--reason <text>', 'shown in status')
    .action(async (id: string, opts: { reason?: string }) => {
      const config = loadConfig();
      await signalMission(
        config,
        id,
        (c) =>
          c.workflow
            .getHandle(names.missionWorkflowId(id))
            .signal(cancelSignal, { reason: opts.reason ?? 'cancelled by user' }),
        'cancel',
      );
      say(`mission ${id}: cancel requested (agents are stopped; worktrees and branches are kept)`);
    });

  program
    .command('steer')
    .description("send a message to a running task's agent: it is interrupted and its session resumes with the message")
    .argument('<id>', 'mission id')
    .argument('<task>', 'task id')
    .argument('<message>', 'the message (quote it)')
    .option('--queue', "deliver when the agent's current run ends instead of interrupting it")
    .action(async (id: string, taskId: string, message: string, opts: { queue?: boolean }) => {
      const config = loadConfig();
      const { result } = await updateMission(config, id, 'steer', (c) =>
        c.workflow
          .getHandle(names.missionWorkflowId(id))
          .executeUpdate(steerUpdate, { args: [{ taskId, message, queue: !!opts.queue }] }),
      );
      say(
        result.delivery === 'interrupt'
          ? `mission ${id}: task ${taskId}'s agent is interrupted and resumes its session with your message`
          : `mission ${id}: message queued for task ${taskId}; its agent gets it when its current run ends`,
      );
    });

  program
    .command('retry')
    .description(
      'run a failed, skipped or cancelled task again; its skipped dependents become runnable (reopens a mission that ended failed)',
    )
    .argument('<id>', 'mission id')
    .argument('<task>', 'task id')
    .action(async (id: string, taskId: string) => {
      const config = loadConfig();
      if (await reopenIfEnded(config, id, taskId)) return;
      const { result, workerPolling: polling } = await updateMission(config, id, 'retry', (c) =>
        c.workflow.getHandle(names.missionWorkflowId(id)).executeUpdate(retryUpdate, { args: [{ taskId }] }),
      );
      say(
        `mission ${id}: task ${taskId} will run again${result.reopened.length ? `, then ${result.reopened.join(', ')}` : ''}`,
      );
      if (!polling) say(`no worker is running: it starts when one does (\`flotilla worker\`)`);
    });

  program
    .command('skip')
    .description('give up on a task (its agent is stopped, its work kept); its dependents are skipped')
    .argument('<id>', 'mission id')
    .argument('<task>', 'task id')
    .action(async (id: string, taskId: string) => {
      const config = loadConfig();
      const { result } = await updateMission(config, id, 'skip', (c) =>
        c.workflow.getHandle(names.missionWorkflowId(id)).executeUpdate(skipUpdate, { args: [{ taskId }] }),
      );
      say(
        `mission ${id}: task ${taskId} skipped (was ${result.was})${result.skipped.length ? `; also skipped: ${result.skipped.join(', ')}` : ''}`,
      );
    });

  program
    .command('logs')
    .description("a task's agent transcript")
    .argument('<id>', 'mission id')
    .argument('<task>', 'task id')
    .option('--follow', 'keep printing as the agent writes')
    .option('--raw', "print the agent's output lines exactly as it wrote them")
    .action(async (id: string, taskId: string, opts: { follow?: boolean; raw?: boolean }) => {
      const config = loadConfig();
      const printed = new Map<string, number>();
      const renderer = new TranscriptRenderer(!!opts.raw);
      const pump = (): void => {
        for (const file of transcriptFiles(config.home, id, taskId)) {
          const text = readFileSync(file, 'utf8');
          const from = printed.get(file) ?? 0;
          const end = text.lastIndexOf('\n') + 1;
          for (const line of text.slice(from, end).split('\n').filter(Boolean)) {
            const shown = renderer.render(line);
            if (shown !== undefined) say(shown);
          }
          printed.set(file, end);
        }
      };
      pump();
      if (printed.size === 0 && !opts.follow)
        throw new CliError(
          `no transcript for task "${taskId}" of mission "${id}" in ${path.join(config.home, 'runs')}`,
          4,
        );
      while (opts.follow) {
        await new Promise((r) => setTimeout(r, 500));
        pump();
      }
    });

  program
    .command('worker')
    .description('run a worker for the shared task queue and this host')
    .option('--concurrency <n>', 'activities at once on this host', positiveInt)
    .action(async (opts: { concurrency?: number }) => {
      const config = loadConfig();
      installRuntime(config, false);
      const { workers, done, connection } = await startWorkers(config, opts.concurrency);
      warn(
        `flotilla worker: task queues ${config.taskQueue} and ${workers.hostQueue} at ${config.address} (Ctrl-C to stop)`,
      );
      await done;
      await connection.close();
    });

  const server = program
    .command('server')
    .description('run the embedded Temporal dev server in the foreground (Web UI on gRPC port + 1000)')
    .option('--db <file>', 'SQLite database file', '')
    .action(async (opts: { db: string }) => {
      const config = loadConfig();
      mkdirSync(config.home, { recursive: true });
      const cli = ensureTemporalCli(say);
      if (!cli)
        throw new CliError(
          'no Temporal CLI found and no Go to install it; install the Temporal CLI and set TEMPORAL_CLI_PATH',
          1,
        );
      const db = opts.db ? path.resolve(opts.db) : path.join(config.home, 'temporal.db');
      const child = spawn(cli, startDevArgs(config.address, db), { stdio: 'inherit' });
      process.exitCode = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 0)));
    });
  server
    .command('stop')
    .description('stop the dev server `flotilla run` started in the background')
    .action(async () => {
      const config = loadConfig();
      const rec = readServerRecord(config.home);
      if (await stopEmbeddedServer(config.home))
        say(`stopped the Temporal dev server (pid ${rec?.pid}, ${rec?.address})`);
      else say('no dev server started by flotilla is running');
    });

  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander printed the problem already; usage mistakes are invalid input.
      process.exitCode =
        e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
      return;
    }
    if (err instanceof MissionFileError) {
      warn(err.message);
      process.exitCode = 2;
      return;
    }
    if (err instanceof CliError) {
      warn(`flotilla: ${err.message}`);
      process.exitCode = err.exitCode;
      return;
    }
    warn(`flotilla: ${(err as Error).message ?? String(err)}`);
    if (process.env.FLOTILLA_DEBUG) warn((err as Error).stack ?? '');
    process.exitCode = 1;
  }
}

if (require.main === module) {
  void main(process.argv).then(() => {
    // Lingering gRPC handles must not keep a finished command alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
  });
}

export { main };
