/**
 * What the service knows about missions and workers without asking a workflow: the mission list
 * (visibility) and the pollers of a task queue.
 */
import { Client, ConnectionLike } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import os from 'node:os';
import { MISSION_PHASES, SEARCH_ATTRIBUTE_KEYS, SEARCH_ATTRIBUTES } from '../mission/types';
import { CliError, EXIT } from './errors';
import { cliTypeName } from './search-attributes';

const { TaskQueueKind, TaskQueueType } = temporal.api.enums.v1;

export interface MissionListing {
  missionId: string;
  workflowId: string;
  /** The workflow's status, lower case: `running`, `completed`, `failed`, `cancelled`, ... */
  status: string;
  /** The mission phase search attribute, or null when the namespace has none. */
  phase: string | null;
  /** Share of its tasks finished, 0..100 (`FlotillaProgress`), or null when the mission has no such attribute. */
  percent: number | null;
  /** USD spent (`FlotillaCostUsd`; the workflow rounds it), or null as `percent`. */
  costUsd: number | null;
  /** The repository's absolute path (`FlotillaRepo`), or null as `percent`. */
  repo: string | null;
  /** The runtimes its tasks use (`FlotillaRuntime`); empty as `percent`. */
  runtimes: string[];
  /** ISO 8601. */
  startedAt: string;
  closedAt: string | null;
}

/** What `flotilla list` filters on: each maps to a typed search attribute. */
export interface MissionFilter {
  /** A mission phase (`FlotillaPhase`); checked against {@link MISSION_PHASES}. */
  phase?: string;
  /** An absolute repository path (`FlotillaRepo`): the caller resolves it as a mission file's `repo`. */
  repo?: string;
  /** At most this many missions (default 50). */
  limit?: number;
}

/** A string literal of Temporal's list filter language: single quotes, a quote inside doubled. */
export function queryString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * The visibility query of mission workflows matching `filter`, e.g.
 * `WorkflowType = 'missionWorkflow' AND FlotillaPhase = 'blocked'`.
 * @throws CliError exit 2 for a phase that is not a mission phase (listing the valid ones)
 */
export function missionQuery(filter: MissionFilter = {}): string {
  const parts = [`WorkflowType = 'missionWorkflow'`];
  if (filter.phase !== undefined) {
    if (!(MISSION_PHASES as readonly string[]).includes(filter.phase))
      throw new CliError(
        `unknown phase "${filter.phase}"\nfix: use one of: ${MISSION_PHASES.join(', ')}`,
        EXIT.invalid,
      );
    parts.push(`${SEARCH_ATTRIBUTES.phase} = ${queryString(filter.phase)}`);
  }
  if (filter.repo !== undefined) parts.push(`${SEARCH_ATTRIBUTES.repo} = ${queryString(filter.repo)}`);
  return parts.join(' AND ');
}

/** The attribute a query names that the service said it does not know, if that is why it failed. */
function unknownAttribute(err: unknown, query: string): string | undefined {
  // The SDK wraps the service's answer ("Failed to list workflows"): the reason is in a cause.
  const messages: string[] = [];
  for (let e: unknown = err; e && messages.length < 5; e = (e as { cause?: unknown }).cause)
    messages.push(e instanceof Error ? e.message : String(e));
  const message = messages.join(': ');
  if (!/invalid|not (a )?(valid|defined|found)|unknown/i.test(message)) return undefined;
  return Object.values(SEARCH_ATTRIBUTES).find((name) => query.includes(name) && message.includes(name));
}

/**
 * Missions matching `filter`, newest first, from Temporal's visibility store; at most
 * `filter.limit` (default 50). Progress, cost, repository and runtimes come from the typed search
 * attributes (null for a value the workflow lacks).
 * @throws CliError exit 2 for an unknown phase; exit 1 when the namespace lacks an attribute the
 *   filter needs (saying how to register it)
 */
export async function listMissions(client: Client, filter: MissionFilter = {}): Promise<MissionListing[]> {
  const limit = filter.limit ?? 50;
  const query = missionQuery(filter);
  const out: MissionListing[] = [];
  try {
    for await (const wf of client.workflow.list({ query, pageSize: limit })) {
      const attrs = wf.typedSearchAttributes;
      out.push({
        missionId: wf.workflowId.replace(/^mission-/, ''),
        workflowId: wf.workflowId,
        status: wf.status.name.toLowerCase(),
        phase: attrs.get(SEARCH_ATTRIBUTE_KEYS.phase) ?? null,
        percent: attrs.get(SEARCH_ATTRIBUTE_KEYS.progress) ?? null,
        costUsd: attrs.get(SEARCH_ATTRIBUTE_KEYS.costUsd) ?? null,
        repo: attrs.get(SEARCH_ATTRIBUTE_KEYS.repo) ?? null,
        runtimes: attrs.get(SEARCH_ATTRIBUTE_KEYS.runtime) ?? [],
        startedAt: wf.startTime.toISOString(),
        closedAt: wf.closeTime?.toISOString() ?? null,
      });
      if (out.length >= limit) break;
    }
  } catch (err) {
    const missing = unknownAttribute(err, query);
    if (!missing) throw err;
    throw new CliError(
      `namespace ${client.options.namespace} has no search attribute ${missing}, so missions cannot be filtered on it; ` +
        `\`flotilla run\` and \`start\` register Flotilla's attributes before the first mission, or register them by hand: ` +
        `temporal operator search-attribute create --namespace ${client.options.namespace} --name ${missing} --type ${cliTypeName(missing)}`,
      EXIT.failed,
    );
  }
  return out.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

/**
 * What a worker this CLI runs says about itself after its `<pid>@<host>` identity: `in-process`,
 * the worker of a `run`/`watch`, which leaves with its command; `query`, a workflow-only worker
 * that answers one query or update and leaves at once.
 */
export type WorkerKind = 'in-process' | 'query';

/** The identity of a worker of this process: `<pid>@<host> <kind>`. */
export function workerIdentity(kind: WorkerKind): string {
  return `${process.pid}@${os.hostname()} ${kind}`;
}

/**
 * The identity of `flotilla worker`: `<pid>@<host> worker queue=<host queue> agents=<cap|any>`
 * and, when versioned, ` version=<deployment>/<build id>`, so the pollers of a task queue
 * (`flotilla workers`) say which host queue each serves, its cap and its version.
 */
export function standaloneIdentity(
  hostQueue: string,
  agents: number | undefined,
  version?: { name: string; buildId: string },
): string {
  const v = version ? ` version=${version.name}/${version.buildId}` : '';
  return `${process.pid}@${os.hostname()} worker queue=${hostQueue} agents=${agents ?? 'any'}${v}`;
}

export interface PollingOptions {
  /**
   * Count only workers that outlive a command (`flotilla worker`), not the in-process worker of
   * another `run`/`watch`: that one leaves when its own mission ends.
   */
  standaloneOnly?: boolean;
  /** Count this process's own workers too (default: not; `run` asks whether another worker polls). */
  includeOwn?: boolean;
  /** The pollers of activity tasks (a host queue's activity workers) instead of workflow tasks. */
  activities?: boolean;
}

/**
 * Whether a live worker polls `taskQueue`. The service keeps pollers listed for minutes after
 * they die, so a poller on this host counts only while its process lives (SDK identities are
 * `<pid>@<hostname>`), and one elsewhere only if seen in the last 90 s. The short-lived query
 * workers of other commands never count; this process's own workers only with `includeOwn`.
 */
export async function workerPolling(
  connection: Pick<ConnectionLike, 'workflowService'>,
  namespace: string,
  taskQueue: string,
  opts: PollingOptions = {},
): Promise<boolean> {
  const res = await connection.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: opts.activities ? TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY : TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (res.pollers ?? []).some((p) => {
    const identity = p.identity ?? '';
    // A query worker runs no activity and leaves within seconds: nothing can rely on it.
    if (identity.endsWith(' query')) return false;
    if (opts.standaloneOnly && identity.endsWith(' in-process')) return false;
    const own = /^(\d+)@(\S+)/.exec(identity);
    if (own && Number(own[1]) === process.pid && own[2] === os.hostname()) return !!opts.includeOwn;
    return pollerLive(identity, p.lastAccessTime?.seconds ? Number(p.lastAccessTime.seconds) * 1000 : 0);
  });
}

/**
 * Whether the worker behind a poller (its `identity`, last seen at `lastAccessMs`, epoch ms) still
 * lives: on this host, its process exists; elsewhere, it polled in the last 90 s (the service
 * keeps pollers listed for minutes after they die).
 */
export function pollerLive(identity: string, lastAccessMs: number, now = Date.now()): boolean {
  return localWorkerAlive(identity) ?? now - lastAccessMs < 90_000;
}

/**
 * Whether the worker named by a Temporal worker identity (`<pid>@<hostname>…`, the SDK's default
 * form, which Flotilla's workers keep as their prefix) is alive, when it ran on this host: its
 * process exists. Null for another host's worker or an identity of another form (only its polls
 * and heartbeats can tell).
 */
export function localWorkerAlive(identity: string): boolean | null {
  const m = /^(\d+)@(\S+)/.exec(identity);
  if (!m || m[2] !== os.hostname()) return null;
  try {
    process.kill(Number(m[1]), 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
