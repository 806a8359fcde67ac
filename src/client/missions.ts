/**
 * Client-side mission operations the CLI commands share: loading a mission for start (including
 * its scaffold repository), starting it, reading its progress, listing missions, and telling
 * whether any worker polls the task queue.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { retryRejection, stateFromResult } from '../mission/control';
import { MissionFileError } from '../mission/errors';
import { LoadedMission, loadMission } from '../mission/load';
import type { MissionProgress } from '../mission/progress';
import { names, TASK_STATUSES, SEARCH_ATTRIBUTES } from '../mission/types';
import { progressQuery } from '../workflows/messages';
import type { MissionInput } from '../workflows/mission';
import { FlotillaConfig, workflowUrl } from './config';
import { CliError } from './server';

const SCAFFOLD_MARK = 'flotilla-scaffold';

export async function connect(config: FlotillaConfig): Promise<{ connection: Connection; client: Client }> {
  const connection = await Connection.connect({ address: config.address });
  return { connection, client: new Client({ connection, namespace: config.namespace }) };
}

/** The progress query went unanswered: no worker polls (yet). Worth retrying while one starts. */
export class NoWorkerError extends CliError {}

/**
 * Creates the mission's repository fresh from its `scaffold` directory (git init, one commit on
 * `main`). A directory is only ever replaced when Flotilla made it (a mark in its .git), so a
 * mistyped path can never delete someone's checkout.
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
 * Loads a mission for `run`/`start`: validates, refuses a mission id already running, creates the
 * scaffold repository, and checks that no branch of an earlier mission with this id is in the way.
 * Nothing starts until all of that passed.
 * @throws MissionFileError (exit 2) or CliError (exit 2) for what the user must change
 */
export async function loadForStart(
  client: Client,
  config: FlotillaConfig,
  file: string,
  idOverride?: string,
): Promise<LoadedMission> {
  const scaffoldRoot = path.join(config.home, 'repos');
  const first = await loadMission(file, { idOverride, checkRepo: false, scaffoldRoot });
  await refuseIfRunning(client, first.spec.id);
  if (first.scaffoldDir) await materializeScaffold(first.spec.repo, first.scaffoldDir, first.file);
  const loaded = await loadMission(file, { idOverride, checkRepo: true, scaffoldRoot });
  const taken = (
    await simpleGit({ baseDir: loaded.spec.repo }).raw([
      'for-each-ref',
      '--format=%(refname:short)',
      `refs/heads/flotilla/${loaded.spec.id}/`,
    ])
  ).trim();
  if (taken) {
    throw new CliError(
      `${loaded.file}: branches of an earlier mission "${loaded.spec.id}" exist in ${loaded.spec.repo}:\n  ${taken.split('\n').join('\n  ')}\n` +
        `fix: start with another id (--id ${loaded.spec.id}-2), or delete them: git -C ${loaded.spec.repo} branch -D ${taken.split('\n').join(' ')}`,
      2,
    );
  }
  return loaded;
}

/**
 * `flotilla retry` on a mission that has ended failed: starts a new execution of its workflow
 * (same workflow id, same spec, same branch owner) from its final state, with the task retried and
 * what Flotilla skipped or cancelled because of the failure runnable again. The spec and owner come
 * from the last run's start event; the state from its result.
 * @throws CliError exit 2 when the retry makes no sense (the reason of `retryRejection`), exit 1
 *   when the mission did not end failed (completed: nothing to retry; cancelled: start it again)
 */
export async function reopenMission(
  client: Client,
  missionId: string,
  taskId: string,
): Promise<{ workflowId: string; taskQueue: string }> {
  const handle = client.workflow.getHandle(names.missionWorkflowId(missionId));
  const d = await handle.describe();
  if (d.status.name !== 'COMPLETED')
    throw new CliError(`mission "${missionId}" ended as ${d.status.name.toLowerCase()}; it cannot be reopened`, 1);
  const result = (await handle.result()) as MissionProgress;
  if (result.phase !== 'failed')
    throw new CliError(
      result.phase === 'completed'
        ? `mission "${missionId}" completed; there is nothing to retry`
        : `mission "${missionId}" was cancelled; start it again (with another --id, or after deleting its branches)`,
      1,
    );
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!started || !payload) throw new CliError(`cannot read how mission "${missionId}" was started`, 1);
  const input = defaultPayloadConverter.fromPayload<MissionInput>(payload);
  const state = stateFromResult(result);
  const why = retryRejection(input.spec, state, taskId);
  if (why) throw new CliError(`cannot retry: ${why}`, 2);
  const spent = state.tasks.reduce((sum, t) => sum + t.costUsd, 0);
  const next: MissionInput = {
    spec: input.spec,
    searchAttributes: input.searchAttributes,
    carried: {
      state,
      resumes: 0,
      budgetTripped: input.spec.budgetUsd !== undefined && spent >= input.spec.budgetUsd,
      ownerRunId: input.carried?.ownerRunId ?? started.firstExecutionRunId ?? undefined,
      rerunsEarlierWaves: true,
      reopen: taskId,
    },
  };
  await client.workflow.start('missionWorkflow', {
    workflowId: handle.workflowId,
    taskQueue: d.taskQueue,
    args: [next],
    searchAttributes: input.searchAttributes
      ? { [SEARCH_ATTRIBUTES.missionId]: [missionId], [SEARCH_ATTRIBUTES.phase]: ['running'] }
      : undefined,
  });
  return { workflowId: handle.workflowId, taskQueue: d.taskQueue };
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

async function refuseIfRunning(client: Client, missionId: string): Promise<void> {
  try {
    const d = await client.workflow.getHandle(names.missionWorkflowId(missionId)).describe();
    if (d.status.name === 'RUNNING') {
      throw new CliError(
        `mission "${missionId}" is already running; follow it with \`flotilla watch ${missionId}\`, or start this file with --id <another-id>`,
        2,
      );
    }
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

/**
 * Starts `missionWorkflow` (id `mission-<missionId>`) on the shared task queue.
 * @throws CliError (exit 2) when a mission with that id is running
 */
export async function startMission(
  client: Client,
  config: FlotillaConfig,
  loaded: LoadedMission,
  searchAttributes: boolean,
): Promise<string> {
  const workflowId = names.missionWorkflowId(loaded.spec.id);
  const input: MissionInput = { spec: loaded.spec, searchAttributes };
  try {
    await client.workflow.start('missionWorkflow', {
      workflowId,
      taskQueue: config.taskQueue,
      args: [input],
      searchAttributes: searchAttributes
        ? { [SEARCH_ATTRIBUTES.missionId]: [loaded.spec.id], [SEARCH_ATTRIBUTES.phase]: ['planning'] }
        : undefined,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(
        `mission "${loaded.spec.id}" is already running; follow it with \`flotilla watch ${loaded.spec.id}\``,
        2,
      );
    }
    throw err;
  }
  return workflowId;
}

/**
 * The mission's progress (`status --json` shape). Running missions answer the progress query
 * (a worker must be polling); closed ones answer from their result, so status works after the
 * worker is gone. Running tasks get their agent attempt and last failure from the task
 * workflow's pending activity, so a retry shows as a retry rather than a stale `running`.
 * @throws CliError with exit code 4 when there is no such mission
 */
export async function getProgress(client: Client, config: FlotillaConfig, missionId: string): Promise<MissionProgress> {
  const handle = client.workflow.getHandle(names.missionWorkflowId(missionId));
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new CliError(`no mission "${missionId}" in namespace ${config.namespace} (see \`flotilla list\`)`, 4);
    throw err;
  }
  let progress: MissionProgress;
  if (status === 'COMPLETED') {
    progress = (await handle.result()) as MissionProgress;
  } else if (status === 'RUNNING') {
    try {
      progress = await client.withDeadline(Date.now() + 10_000, () => handle.query(progressQuery));
    } catch {
      throw new NoWorkerError(
        `mission "${missionId}" is running but no worker answered; start one with \`flotilla worker\` (or \`flotilla watch ${missionId}\`)`,
        1,
      );
    }
    await annotateRunningTasks(client, missionId, progress);
  } else {
    throw new CliError(
      `mission "${missionId}" ended as ${status.toLowerCase()} outside Flotilla's control (see the Web UI: ${workflowUrl(config, handle.workflowId) ?? handle.workflowId})`,
      1,
    );
  }
  progress.uiUrl = workflowUrl(config, progress.workflowId);
  return progress;
}

/** A started agent attempt whose last heartbeat is older than this is not really in flight, ms. */
const STALE_HEARTBEAT_MS = 10_000;

/**
 * Corrects what the mission knows about its running tasks with what Temporal knows about their
 * agent activity (`pendingActivities` of the task workflow's description): an attempt waiting for
 * its retry (scheduled, attempt > 1) or one whose worker stopped heartbeating (started, heartbeat
 * older than {@link STALE_HEARTBEAT_MS}: the worker likely died, Temporal retries it after the
 * heartbeat timeout) shows as `pending` with the attempt number and why, never a stale `running`.
 */
async function annotateRunningTasks(client: Client, missionId: string, progress: MissionProgress): Promise<void> {
  await Promise.all(
    progress.tasks
      .filter((t) => t.status === 'running')
      .map(async (t) => {
        try {
          const d = await client.workflow.getHandle(names.taskWorkflowId(missionId, t.id)).describe();
          const pending = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'runAgent');
          if (!pending) return;
          const attempt = pending.attempt ?? 1;
          t.attempts = Math.max(t.attempts, attempt);
          const last = pending.lastFailure?.message;
          // The later of the last heartbeat and this attempt's start: a new attempt inherits the
          // previous one's heartbeat time until it beats itself.
          const seconds = (t?: { seconds?: unknown } | null): number => (t?.seconds ? Number(t.seconds) * 1000 : 0);
          const beat = Math.max(seconds(pending.lastHeartbeatTime), seconds(pending.lastStartedTime));
          const started = Number(pending.state) === 2; // PENDING_ACTIVITY_STATE_STARTED
          if (!started && attempt > 1) {
            t.status = 'pending';
            t.error = `attempt ${attempt} waiting to start${last ? `, retrying after: ${last}` : ''}`;
          } else if (started && beat > 0 && Date.now() - beat > STALE_HEARTBEAT_MS) {
            t.status = 'pending';
            // A time rather than an age, so `watch` prints the line once, not every second.
            t.error = `attempt ${attempt}: no heartbeat since ${new Date(beat).toISOString().slice(11, 19)} UTC (its worker may have died); Temporal retries it after the heartbeat timeout`;
          } else if (last && attempt > 1) t.error = `attempt ${attempt}, retrying after: ${last}`;
        } catch {
          // The child may just have closed; its result reaches the mission on its own.
        }
      }),
  );
  for (const s of TASK_STATUSES) progress.counts[s] = progress.tasks.filter((t) => t.status === s).length;
}

export interface MissionListing {
  missionId: string;
  workflowId: string;
  status: string;
  phase: string | null;
  startedAt: string;
  closedAt: string | null;
}

/** Missions, newest first, from Temporal's visibility store. */
export async function listMissions(client: Client, limit = 50): Promise<MissionListing[]> {
  const out: MissionListing[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'missionWorkflow'`, pageSize: limit })) {
    const phase = wf.searchAttributes?.[SEARCH_ATTRIBUTES.phase] as string[] | undefined;
    out.push({
      missionId: wf.workflowId.replace(/^mission-/, ''),
      workflowId: wf.workflowId,
      status: wf.status.name.toLowerCase(),
      phase: phase?.[0] ?? null,
      startedAt: wf.startTime.toISOString(),
      closedAt: wf.closeTime?.toISOString() ?? null,
    });
    if (out.length >= limit) break;
  }
  return out.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

/**
 * Whether a live worker polls `taskQueue`. The service keeps pollers listed for minutes after
 * they die, so a poller on this host counts only while its process lives (SDK identities are
 * `<pid>@<hostname>`), and one elsewhere only if seen in the last 90 s.
 */
export async function workerPolling(connection: Connection, namespace: string, taskQueue: string): Promise<boolean> {
  const res = await connection.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue, kind: 1 },
    taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
  });
  const now = Date.now();
  return (res.pollers ?? []).some((p) => {
    const m = /^(\d+)@(.+)$/.exec(p.identity ?? '');
    if (m && m[2] === os.hostname()) {
      if (Number(m[1]) === process.pid) return false;
      try {
        process.kill(Number(m[1]), 0);
        return true;
      } catch {
        return false;
      }
    }
    const seen = p.lastAccessTime?.seconds ? Number(p.lastAccessTime.seconds) * 1000 : 0;
    return now - seen < 90_000;
  });
}
