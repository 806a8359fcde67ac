/**
 * Starting a mission: its scaffold repository, the checks that nothing of an earlier mission with
 * its id is in the way, and the start of `missionWorkflow` itself.
 */
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { cpSync, existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { missionDetails, missionSummary } from '../mission/describe';
import { MissionFileError } from '../mission/errors';
import type { LoadedMission } from '../mission/load';
import { type AttributeSets, missionStartAttributes } from '../mission/search';
import { names } from '../mission/types';
// A value import, as Temporal's samples do: the workflow's function name is its type name
// ('missionWorkflow'), which every recorded history refers to.
import { missionWorkflow } from '../workflows';
import { FlotillaConfig } from './config';
import { CliError, EXIT } from './errors';
import { missionStartInput } from './mission-size';

const SCAFFOLD_MARK = 'flotilla-scaffold';

/**
 * Creates the mission's repository fresh from its `scaffold` directory (git init, one commit on
 * `main`). A directory is only ever replaced when Flotilla made it (a mark in its .git), so a
 * mistyped path can never delete someone's checkout.
 * @throws MissionFileError when `repo` exists and Flotilla did not make it
 */
export async function materializeScaffold(repo: string, scaffoldDir: string, file: string): Promise<void> {
  if (existsSync(repo)) {
    if (!existsSync(path.join(repo, '.git', SCAFFOLD_MARK))) {
      throw new MissionFileError(file, [
        {
          path: 'repo',
          reason: `${repo} exists and was not made from a scaffold by Flotilla, so it will not be replaced`,
          fix: 'remove `scaffold:` to use that repository as it is, or point `repo:` at a new path',
        },
      ]);
    }
    rmSync(repo, { recursive: true, force: true });
  }
  mkdirSync(repo, { recursive: true });
  cpSync(scaffoldDir, repo, {
    recursive: true,
    filter: (src) => !src.split(path.sep).includes('node_modules') && path.basename(src) !== '.git',
  });
  const git = simpleGit({ baseDir: repo, config: ['user.name=Flotilla', 'user.email=flotilla@localhost'] });
  await git.raw(['init', '--quiet', '--initial-branch', 'main']);
  writeFileSync(path.join(repo, '.git', SCAFFOLD_MARK), `${scaffoldDir}\n`);
  await git.raw(['add', '--all']);
  await git.raw(['commit', '--quiet', '-m', `initial commit (scaffold ${path.basename(scaffoldDir)})`]);
}

/**
 * Readies a loaded (validated) mission for its start: refuses a mission id already running,
 * creates the scaffold repository, and checks that no branch of an earlier mission with this id
 * is in the way. Nothing starts until all of that passed. Changes `loaded.spec.repo` to the
 * scaffold repository's real path when it made one.
 * @throws MissionFileError (exit 2) or CliError (exit 2) for what the user must change
 */
export async function prepareStart(client: Client, loaded: LoadedMission): Promise<void> {
  const { spec } = loaded;
  await refuseIfRunning(client, spec.id);
  if (loaded.scaffoldDir) {
    await materializeScaffold(spec.repo, loaded.scaffoldDir, loaded.file);
    spec.repo = realpathSync(spec.repo);
    const base = await simpleGit({ baseDir: spec.repo }).raw(['branch', '--list', spec.base]);
    if (!base.trim())
      throw new MissionFileError(loaded.file, [
        {
          path: 'base',
          reason: `unknown branch "${spec.base}" in the repository made from ${loaded.scaffoldDir}`,
          fix: 'leave base out (a scaffold repository starts on main)',
        },
      ]);
  }
  const taken = (
    await simpleGit({ baseDir: spec.repo }).raw([
      'for-each-ref',
      '--format=%(refname:short)',
      `refs/heads/flotilla/${spec.id}/`,
    ])
  ).trim();
  if (taken) {
    throw new CliError(
      `${loaded.file}: branches of an earlier mission "${spec.id}" exist in ${spec.repo}:\n  ${taken.split('\n').join('\n  ')}\n` +
        `fix: start with another id (--id ${spec.id}-2), or delete them: git -C ${spec.repo} branch -D ${taken.split('\n').join(' ')}`,
      EXIT.invalid,
    );
  }
}

/** When the mission `missionId` is running, the time it started; undefined when it is not running. */
export async function runningSince(client: Client, missionId: string): Promise<Date | undefined> {
  try {
    const d = await client.workflow.getHandle(names.missionWorkflowId(missionId)).describe();
    return d.status.name === 'RUNNING' ? d.startTime : undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

const alreadyRunning = (missionId: string): CliError =>
  new CliError(
    `mission "${missionId}" is already running; follow it with \`flotilla watch ${missionId}\`, or start this file with --id <another-id>`,
    EXIT.invalid,
  );

async function refuseIfRunning(client: Client, missionId: string): Promise<void> {
  if (await runningSince(client, missionId)) throw alreadyRunning(missionId);
}

/**
 * Starts `missionWorkflow` (id `mission-<missionId>`) on the shared task queue.
 * @param sets which of Flotilla's search attributes the namespace has (`ensureSearchAttributes`):
 *   the mission starts with those and tells its workflow which it may set
 * @returns the workflow id
 * @throws CliError (exit 2) when a mission with that id is running
 */
export async function startMission(
  client: Client,
  config: FlotillaConfig,
  loaded: LoadedMission,
  sets: Required<AttributeSets>,
): Promise<string> {
  const workflowId = names.missionWorkflowId(loaded.spec.id);
  try {
    await client.workflow.start(missionWorkflow, {
      workflowId,
      taskQueue: config.taskQueue,
      // The input `checkMissionSize` measured.
      args: [missionStartInput(loaded, sets)],
      typedSearchAttributes: missionStartAttributes(loaded.spec, 'planning', sets),
      // What the Web UI shows for the workflow: a line in the list, the plan on its page.
      staticSummary: missionSummary(loaded.spec),
      staticDetails: missionDetails(loaded.spec, loaded.waves),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw alreadyRunning(loaded.spec.id);
    throw err;
  }
  return workflowId;
}
