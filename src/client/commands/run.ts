/**
 * `flotilla run FILE [--id ID] [--detach]` and `flotilla start FILE`: validate (the mission file is
 * parsed once), make sure a Temporal service answers (the embedded dev server when none does),
 * start the mission, and for `run` follow it to its end with a worker.
 */
import { Command } from 'commander';
import path from 'node:path';
import { loadMission } from '../../mission-file/load';
import { names } from '../../mission/types';
import { FlotillaConfig, loadConfig, workflowUrl } from '../config';
import { checkSandbox } from '../sandbox-check';
import { ensureSearchAttributes } from '../search-attributes';
import { startEmbeddedServer, temporalReachable } from '../server';
import { checkMissionSize } from '../mission-size';
import { prepareStart, runningSince, startMission } from '../start';
import { workerPolling } from '../visibility';
import { say, withConnection } from './context';
import { followWithWorker } from './follow';

/** Makes sure a Temporal service answers, starting the embedded dev server when the address is local. */
export async function ensureService(config: FlotillaConfig): Promise<{ embedded: boolean }> {
  if (await temporalReachable(config.connection)) return { embedded: false };
  say(`no Temporal service at ${config.address}: starting the embedded dev server (SQLite in ${config.home})`);
  const rec = await startEmbeddedServer(config, say);
  say(
    `  Temporal dev server up at ${rec.address}, Web UI http://localhost:${rec.uiPort} (it stays up; stop it with \`flotilla server stop\`)`,
  );
  return { embedded: true };
}

export interface StartOptions {
  id?: string;
  detach?: boolean;
}

/** Starts the mission of `file`, and with `follow` follows it to its end (the exit code). */
export async function startAndMaybeFollow(file: string, opts: StartOptions, follow: boolean): Promise<void> {
  const config = loadConfig();
  // Bad input (schema, repository, base branch, a sandbox this host cannot make) fails here,
  // before any server or worker starts.
  const loaded = await loadMission(file, {
    idOverride: opts.id,
    checkRepo: true,
    scaffoldRoot: path.join(config.home, 'repos'),
  });
  checkMissionSize(loaded);
  await checkSandbox(loaded);
  const missionId = loaded.spec.id;
  const reattach = `flotilla run ${file}${opts.id ? ` --id ${opts.id}` : ''}`;
  await ensureService(config);
  await withConnection(config, async (connected) => {
    const { client, connection } = connected;
    // `run` again after the first one died (a crash, a closed terminal): the mission goes on in
    // Temporal, so follow it (with a worker, if none polls) instead of refusing to start it twice.
    const since = follow ? await runningSince(client, missionId) : undefined;
    if (since) {
      const workflowId = names.missionWorkflowId(missionId);
      say(
        `mission ${missionId} is already running (workflow ${workflowId}, started ${since.toISOString()}): following it instead of starting it again`,
      );
      const url = workflowUrl(config, workflowId);
      if (url) say(`  Web UI: ${url}`);
      process.exitCode = await followWithWorker(connected, missionId, reattach);
      return;
    }
    // Every service, the embedded one too (a dev server started by hand has none of them): the
    // mission's workflows set them all.
    await ensureSearchAttributes(connection, config.namespace);
    await prepareStart(client, loaded, config.home);
    const workflowId = await startMission(client, config, loaded);
    say(`started mission ${missionId} (workflow ${workflowId}) on ${loaded.spec.repo}, base ${loaded.spec.base}`);
    const url = workflowUrl(config, workflowId);
    if (url) say(`  Web UI: ${url}`);
    if (!follow) {
      if (!(await workerPolling(connection, config.namespace, config.taskQueue)))
        say(
          `  no worker polls task queue ${config.taskQueue} yet: run \`flotilla worker\` or \`flotilla watch ${missionId}\``,
        );
      return;
    }
    process.exitCode = await followWithWorker(connected, missionId, reattach);
  });
}

/** Adds `flotilla run` and `flotilla start` to the program. */
export function register(program: Command): void {
  program
    .command('run')
    .description('validate, start and follow a mission until it ends (starts the dev server and a worker when needed)')
    .argument('<file>', 'mission file (YAML or JSON)')
    .option('--id <id>', 'mission id (overrides the file)')
    .option('--detach', 'start and return without following')
    .action((file: string, opts: StartOptions) => startAndMaybeFollow(file, opts, !opts.detach));

  program
    .command('start')
    .description('start a mission and print its id and Web UI link')
    .argument('<file>', 'mission file (YAML or JSON)')
    .option('--id <id>', 'mission id (overrides the file)')
    .action((file: string, opts: StartOptions) => startAndMaybeFollow(file, opts, false));
}
