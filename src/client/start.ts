/**
 * Starting a mission: its scaffold repository, the checks that nothing of an earlier mission with
 * its id is in the way, and the start of `missionWorkflow` itself.
 */
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { simpleGit } from 'simple-git';
import { missionDetails, missionSummary } from '../mission/describe';
import { MissionFileError } from '../mission-file/errors';
import type { LoadedMission } from '../mission-file/load';
import { missionStartAttributes } from '../mission/search';
import { names } from '../mission/types';
// A value import, as Temporal's samples do: the workflow's function name is its type name
// ('missionWorkflow'), which every recorded history refers to.
import { missionWorkflow } from '../workflows';
import { missionsIn } from './clean';
import { FlotillaConfig, workflowUrl } from './config';
import { defaultReportPath } from './report/collect';
import { CliError, EXIT } from './errors';
import { missionStartInput } from './mission-size';

const SCAFFOLD_MARK = 'flotilla-scaffold';

/**
 * The mark Flotilla leaves in a scaffold repository's `.git`: the scaffold directory on its first
 * line, then `mission <id>` for the mission it was made for.
 */
function scaffoldMark(repo: string): { missions: string[] } | undefined {
  const file = path.join(repo, '.git', SCAFFOLD_MARK);
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').split('\n');
  return { missions: lines.flatMap((l) => (l.startsWith('mission ') ? [l.slice('mission '.length).trim()] : [])) };
}

/**
 * Creates the mission's repository fresh from its `scaffold` directory (git init, one commit on
 * `main`), replacing the one an earlier run made there. Call {@link checkScaffoldReplaceable} first:
 * this function deletes what is at `repo` after checking only Flotilla's mark.
 * @throws MissionFileError when `repo` exists and Flotilla did not make it
 */
export async function materializeScaffold(
  repo: string,
  scaffoldDir: string,
  file: string,
  missionId: string,
): Promise<void> {
  if (existsSync(repo)) {
    if (!scaffoldMark(repo)) throw notOurs(file, repo);
    rmSync(repo, { recursive: true, force: true });
  }
  mkdirSync(repo, { recursive: true });
  cpSync(scaffoldDir, repo, {
    recursive: true,
    filter: (src) => !src.split(path.sep).includes('node_modules') && path.basename(src) !== '.git',
  });
  const git = simpleGit({ baseDir: repo, config: ['user.name=Flotilla', 'user.email=flotilla@localhost'] });
  await git.raw(['init', '--quiet', '--initial-branch', 'main']);
  writeFileSync(path.join(repo, '.git', SCAFFOLD_MARK), `${scaffoldDir}\nmission ${missionId}\n`);
  await git.raw(['add', '--all']);
  await git.raw(['commit', '--quiet', '-m', `initial commit (scaffold ${path.basename(scaffoldDir)})`]);
}

const notOurs = (file: string, repo: string): MissionFileError =>
  new MissionFileError(file, [
    {
      path: 'repo',
      reason: `${repo} exists and was not made from a scaffold by Flotilla, so it will not be replaced`,
      fix: 'remove `scaffold:` to use that repository as it is, or point `repo:` at a new path',
    },
  ]);

/**
 * Refuses to replace an existing scaffold repository unless nothing in it belongs to a mission:
 * Flotilla made it (its mark), it holds no branch, checkpoint, candidate ref or worktree of any
 * mission (`missionsIn`, the same test `flotilla clean` uses), and the mission it was made for is
 * not running (Temporal: it may not have made its first branch yet). Reads only; writes nothing.
 * @param home `$FLOTILLA_HOME` (worktrees under it count as a mission's; default scaffold repositories live in `<home>/repos`)
 * @throws MissionFileError (exit 2) naming the missions and what to do
 */
export async function checkScaffoldReplaceable(client: Client, loaded: LoadedMission, home: string): Promise<void> {
  const { spec, file } = loaded;
  const repo = spec.repo;
  if (!existsSync(repo)) return;
  const mark = scaffoldMark(repo);
  if (!mark) throw notOurs(file, repo);
  const found = await missionsIn(repo, home);
  const running: string[] = [];
  for (const id of new Set([...found, ...mark.missions])) if (await runningSince(client, id)) running.push(id);
  if (found.length === 0 && running.length === 0) return;
  const own = path.join(home, 'repos', spec.id);
  const ownRepo = existsSync(own) && realpathSync(own) === realpathSync(repo);
  const ended = found.filter((id) => !running.includes(id));
  const what = [
    ...(running.length ? [`is in use by running mission${running.length > 1 ? 's' : ''} ${quoted(running)}`] : []),
    ...(ended.length
      ? [`holds the branches, refs or worktrees of ended mission${ended.length > 1 ? 's' : ''} ${quoted(ended)}`]
      : []),
  ].join(' and ');
  const other = ownRepo
    ? `run with another id (\`--id ${spec.id}-2\` gets a repository of its own)`
    : 'point `repo:` at another path (or leave it out: each mission id then gets a repository of its own)';
  throw new MissionFileError(file, [
    {
      path: 'scaffold',
      reason: `${repo} ${what}: a scaffold repository is replaced only when nothing of a mission is left in it`,
      fix:
        (running.length ? `wait for ${quoted(running)} to end (\`flotilla watch ${running[0]}\`), or ` : '') +
        `${other}` +
        (ended.length
          ? `, or land and clean ${quoted(ended)} first (\`flotilla land ${ended[0]}\`, \`flotilla clean ${ended[0]} --yes\`), or discard that work by deleting the repository yourself (\`rm -rf ${repo}\`)`
          : ''),
    },
  ]);
}

const quoted = (ids: string[]): string => ids.map((id) => `"${id}"`).join(', ');

/**
 * Readies a loaded (validated) mission for its start. Every check runs before anything is written
 * or deleted: a mission id already running is refused; for `scaffold:`, the base must be `main`
 * and an existing repository must be replaceable ({@link checkScaffoldReplaceable}), and only then
 * is it made afresh; for a repository of the user's, no branch of an earlier mission with this id
 * may be in the way. Changes `loaded.spec.repo` to the scaffold repository's real path when it made one.
 * @param home `$FLOTILLA_HOME`
 * @throws MissionFileError (exit 2) or CliError (exit 2) for what the user must change
 */
export async function prepareStart(client: Client, loaded: LoadedMission, home: string): Promise<void> {
  const { spec } = loaded;
  await refuseIfRunning(client, spec.id);
  if (!loaded.scaffoldDir) return refuseEarlierBranches(loaded);
  // A scaffold repository starts with `main` only.
  if (spec.base !== 'main')
    throw new MissionFileError(loaded.file, [
      {
        path: 'base',
        reason: `unknown branch "${spec.base}" in the repository made from ${loaded.scaffoldDir}`,
        fix: 'leave base out (a scaffold repository starts on main)',
      },
    ]);
  await checkScaffoldReplaceable(client, loaded, home);
  await materializeScaffold(spec.repo, loaded.scaffoldDir, loaded.file, spec.id);
  spec.repo = realpathSync(spec.repo);
}

/**
 * Refuses a start while branches of an earlier mission with this id are in the repository.
 * @throws CliError (exit 2) naming them, with advice that keeps their work (never `branch -D`)
 */
export async function refuseEarlierBranches(loaded: LoadedMission): Promise<void> {
  const { spec } = loaded;
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
        `fix: start with another id (--id ${spec.id}-2), or land and clean the earlier mission first (flotilla land ${spec.id}, then flotilla clean ${spec.id} --yes: clean archives each branch it deletes under refs/flotilla/archive/${spec.id}/)`,
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
 * Starts `missionWorkflow` (id `mission-<missionId>`) on the shared task queue, with Flotilla's
 * search attributes (register them first: `ensureSearchAttributes`).
 * @returns the workflow id
 * @throws CliError (exit 2) when a mission with that id is running
 */
export async function startMission(client: Client, config: FlotillaConfig, loaded: LoadedMission): Promise<string> {
  const workflowId = names.missionWorkflowId(loaded.spec.id);
  // What a notification links to: only the client knows the Web UI's address and where reports go.
  if (loaded.spec.notify)
    loaded.spec.notify = {
      ...loaded.spec.notify,
      webUi: workflowUrl(config, workflowId),
      report: pathToFileURL(defaultReportPath(config.home, loaded.spec.id)).href,
    };
  try {
    await client.workflow.start(missionWorkflow, {
      workflowId,
      taskQueue: config.taskQueue,
      // The input `checkMissionSize` measured.
      args: [missionStartInput(loaded)],
      typedSearchAttributes: missionStartAttributes(loaded.spec, 'planning'),
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
