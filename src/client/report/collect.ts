/**
 * `flotilla report`'s reading and writing: every history of a mission (its workflow's runs and
 * its task workflows' runs) fetched from Temporal, turned into {@link ReportData} (build.ts, from the histories as history.ts reads them)
 * and written as one self-contained HTML file (html.ts).
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { privateFile, secretRedactor } from '../../secrets/secrets';
import type { MissionProgress } from '../../mission/progress';
import { names } from '../../mission/types';
import type { MissionInput } from '../../workflows/mission';
import { commandNamesOf } from '../../workflows/mission/types';
import type { MissionContext } from '../commands/context';
import { buildReport } from './build';
import { childRuns, historyStart, previousRunId, runClosed, startInput, timestampMs } from './history';
import { echartsSource, renderReportHtml } from './html';
import type { PendingActivity, ReportData, RunHistory } from './model';

/** How many histories are fetched at once (a 200-task mission has 200+). */
const FETCH_CONCURRENCY = 8;
/** A bound on the runs of one mission followed back (continue-as-new, reopenings). */
const MAX_MISSION_RUNS = 200;

/** Where a mission's report goes by default: `$FLOTILLA_HOME/runs/<missionId>/report.html`, beside its transcripts. */
export function defaultReportPath(home: string, missionId: string): string {
  return path.join(home, 'runs', missionId, 'report.html');
}

/** Runs `fn` on every item, at most `limit` at once; results in the items' order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Every run of the mission workflow, oldest first: from the current run back through
 * continue-as-new, and, when a run was reopened by `flotilla retry` (a new execution of the same
 * workflow id), on through the execution it reopened: the latest one closed before it started.
 * Executions of an unrelated earlier mission with the same id are not followed (nothing reopened them).
 */
async function missionHistories(client: Client, workflowId: string, currentRunId: string): Promise<RunHistory[]> {
  const out: RunHistory[] = [];
  let listed: Array<{ runId: string; closedAt: number }> | undefined;
  for (let runId: string | null = currentRunId; runId && out.length < MAX_MISSION_RUNS;) {
    const history: RunHistory['history'] = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    out.push({ workflowId, runId, history });
    runId = previousRunId(history);
    if (runId || !startInput<MissionInput>(history)?.carried?.reopen) continue;
    listed ??= await listRuns(client, workflowId);
    const start = historyStart(history);
    const before: { runId: string } | undefined = listed
      .filter((r) => r.closedAt <= start && !out.some((o) => o.runId === r.runId))
      .sort((a, b) => b.closedAt - a.closedAt)[0];
    runId = before?.runId ?? null;
  }
  return out.reverse();
}

async function listRuns(client: Client, workflowId: string): Promise<Array<{ runId: string; closedAt: number }>> {
  const runs: Array<{ runId: string; closedAt: number }> = [];
  // Mission ids are `[a-z0-9-]` (validated), so the id needs no quoting beyond the quotes.
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
    if (w.closeTime) runs.push({ runId: w.runId, closedAt: w.closeTime.getTime() });
  return runs;
}

/** The activities in flight of a run still running (its description), for attempts not yet in history. */
async function pendingActivities(client: Client, workflowId: string, runId: string): Promise<PendingActivity[]> {
  const d = await client.workflow.getHandle(workflowId, runId).describe();
  return (d.raw.pendingActivities ?? []).map((a) => ({
    activityId: a.activityId ?? '',
    attempt: a.attempt ?? 1,
    startedAt:
      a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED &&
      a.lastStartedTime?.seconds
        ? timestampMs(a.lastStartedTime)
        : null,
    lastFailure: a.lastFailure?.message ?? null,
  }));
}

/**
 * Reads everything the report shows of a mission, running, blocked or ended, with every secret's
 * value (src/secrets/secrets.ts, this process's environment) redacted.
 * @param progress the mission's progress when the caller has it already (`run`/`watch` at the end)
 * @throws CliError exit 4 for an unknown mission (as `status`); what `mission.progress()` throws
 */
export async function collectReport(
  mission: MissionContext,
  progress?: MissionProgress,
  now: number = Date.now(),
): Promise<ReportData> {
  const { handle, description } = await mission.describe();
  progress ??= await mission.progress();
  const client = mission.client;
  const missionRuns = await missionHistories(client, handle.workflowId, description.runId);
  const prefix = names.taskWorkflowId(mission.missionId, '');
  const children = new Map<string, { workflowId: string; runId: string }>();
  for (const r of missionRuns)
    for (const c of childRuns(r.history)) if (c.workflowId.startsWith(prefix)) children.set(c.runId, c);
  const taskRuns = await mapLimit([...children.values()], FETCH_CONCURRENCY, async (c) => {
    const run: RunHistory = { ...c, history: await client.workflow.getHandle(c.workflowId, c.runId).fetchHistory() };
    // Only a running run has activities in flight; a child that just closed has none to add.
    if (!runClosed(run.history))
      run.pending = await pendingActivities(client, c.workflowId, c.runId).catch(() => undefined);
    return run;
  });
  // The workers' redaction boundary rewrites activity payloads, not workflow payloads: a value
  // that reached history another way is taken out here too (by the rule of what a secret is, and
  // by the names the mission lists), with this process's environment.
  const spec = missionRuns.map((r) => startInput<MissionInput>(r.history)?.spec).find((x) => x);
  const listed = spec ? commandNamesOf(spec).redact : [];
  return secretRedactor(listed).value(buildReport({ progress, missionRuns, taskRuns, now }));
}

/**
 * Writes the mission's report (see {@link collectReport}) to `out` (default
 * {@link defaultReportPath}), creating its folder; the file is mode 0600.
 * @returns the file written and its `file://` URL
 */
export async function writeReport(
  mission: MissionContext,
  out?: string,
  progress?: MissionProgress,
): Promise<{ file: string; url: string; data: ReportData }> {
  const data = await collectReport(mission, progress);
  const file = path.resolve(out ?? defaultReportPath(mission.config.home, mission.missionId));
  writeFileSync(privateFile(file), renderReportHtml(data, echartsSource()));
  return { file, url: pathToFileURL(file).href, data };
}
