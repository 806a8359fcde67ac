/**
 * What a person should do next about a mission, in commands: the part of the story that the Web
 * UI's current details, `status` and `watch` all end with. Pure: the workflows and the client
 * both use it.
 */
import { formatDuration, wallTimeMs } from './duration';
import type { MissionProgress } from './progress';
import type { TaskStatus } from './types';

/** At most this many `retry` commands are suggested for a failed mission (the rest are alike). */
const MAX_RETRY_SUGGESTIONS = 3;

/**
 * The commands that move the mission on from where it is, most useful first; empty while it runs
 * on its own or when nothing is left to do. A blocked or paused mission's reason names its
 * commands in backticks (the workflows write them so); those come first, then `resume`.
 * A failed mission suggests `retry` for its failed tasks; a completed one not yet landed, `land`.
 */
export function nextSteps(p: MissionProgress): string[] {
  const id = p.missionId;
  const named = [...(p.reason ?? '').matchAll(/`(flotilla [^`]+)`/g)].map((m) => m[1]);
  const unique = (xs: string[]): string[] => [...new Set(xs)];
  switch (p.phase) {
    case 'blocked':
    case 'paused':
      return unique([...named, `flotilla resume ${id}`]);
    case 'failed':
      return unique([
        ...named,
        ...p.tasks
          .filter((t) => t.status === 'failed')
          .slice(0, MAX_RETRY_SUGGESTIONS)
          .map((t) => `flotilla retry ${id} ${t.id}`),
      ]);
    case 'completed':
      return p.mergeQueue?.landing?.status === 'landed' ? [] : [`flotilla land ${id}`];
    default:
      return [];
  }
}

/**
 * Temporal keeps a workflow's current details in memory and returns them in the metadata query
 * (`__temporal_workflow_metadata`), whose answer is one payload: these bounds keep a 200-task
 * mission's details readable and two orders of magnitude below the service's 2 MB blob limit.
 */
export const MAX_CURRENT_DETAILS_CHARS = 24_000;
/** The first line of an error in a table cell, at most this long. */
const ERROR_CELL_CHARS = 160;

/** One character per task status, for tables and progress lines (the Web UI's and the terminal's). */
export const STATUS_MARK: Record<TaskStatus, string> = {
  pending: '·',
  running: '▶',
  succeeded: '✓',
  merged: '✔',
  failed: '✗',
  skipped: '↷',
  conflict: '⚠',
  cancelled: '■',
};

/** Which tasks a cut table keeps first: what needs attention, then what is in flight, then the rest. */
const PRIORITY: Record<TaskStatus, number> = {
  conflict: 0,
  failed: 0,
  running: 1,
  succeeded: 2,
  pending: 3,
  skipped: 4,
  cancelled: 4,
  merged: 5,
};

/** `09:30:12 UTC` from ISO-8601 workflow time; a date in front when it is not `today` (ISO date). */
export function clock(iso: string, today?: string): string {
  const date = iso.slice(0, 10);
  const time = `${iso.slice(11, 19)} UTC`;
  return today && today !== date ? `${date} ${time}` : time;
}

/** `12.3k` for token counts. */
export function tokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** `$0.0123`: costs are small per task, so four decimals. */
export function usd(n: number): string {
  return `$${n.toFixed(n >= 100 ? 2 : 4)}`;
}

/** Text safe in a Markdown table cell: one line, pipes escaped, at most `max` characters. */
function cell(text: string, max = ERROR_CELL_CHARS): string {
  const line = text.split('\n')[0].trim();
  const cut = line.length > max ? `${line.slice(0, max - 1)}…` : line;
  return cut.replace(/\|/g, '\\|');
}

/** How long a task took, or since when it runs (no "now" here: the workflow's text must not tick). */
function taskTime(t: MissionProgress['tasks'][number], today: string): string {
  if (t.startedAt && t.endedAt) return formatDuration(wallTimeMs(t.startedAt, t.endedAt, 0)!);
  if (t.startedAt) return `since ${clock(t.startedAt, today).replace(' UTC', '')}`;
  return '';
}

/**
 * A reason as a Markdown quote: its lines as they are, and the lines indented by two spaces (the
 * commands a blocked mission's reason gives, see conflict-help.ts) as a code block, so they can
 * be copied as they are.
 */
function quoteReason(reason: string): string[] {
  const out: string[] = [];
  let inCode = false;
  for (const line of reason.split('\n')) {
    const code = /^ {2}\S/.test(line);
    if (code !== inCode && out.length) out.push('>');
    out.push(code ? `>     ${line.trim()}` : `> ${line}`);
    inCode = code;
  }
  return out;
}

/** The phase line and counts that open every view of a mission. */
export function headline(p: MissionProgress): string {
  const c = p.counts;
  return [
    `**${p.phase}**`,
    `${c.merged} of ${c.total} merged (${p.percent}%)`,
    ...(['running', 'succeeded', 'failed', 'conflict', 'skipped', 'cancelled'] as const)
      .filter((s) => c[s] > 0)
      .map((s) => `${c[s]} ${s === 'succeeded' ? 'to merge' : s}`),
  ].join(' · ');
}

/**
 * The mission's current details for the Web UI (Markdown): phase and counts, cost and tokens, what
 * blocks or paused it and the exact commands that go on, a table of tasks (status, agent
 * attempts, time, cost, tokens, head of its branch, last error), the merge queue. The Web UI shows
 * it in half the page's width, so the table keeps to narrow columns and names the branches once.
 * Deterministic in `p` (workflow time only), and at most {@link MAX_CURRENT_DETAILS_CHARS}: a
 * long table keeps the tasks needing attention and says how many it left out.
 */
export function missionCurrentDetails(p: MissionProgress): string {
  const today = (p.endedAt ?? p.startedAt).slice(0, 10);
  const ended = p.endedAt
    ? `, ended ${clock(p.endedAt, p.startedAt.slice(0, 10))} after ${formatDuration(wallTimeMs(p.startedAt, p.endedAt, 0)!)}`
    : '';
  const head: string[] = [
    headline(p),
    '',
    `Cost ${usd(p.costUsd)}${p.budgetUsd ? ` of $${p.budgetUsd} budget` : ''} · tokens ${tokens(p.inputTokens)} in / ${tokens(p.outputTokens)} out · started ${clock(p.startedAt)}${ended}`,
    '',
    `\`${p.baseBranch}\` → \`${p.integrationBranch}\`${p.integrationSha ? ` @ \`${p.integrationSha.slice(0, 8)}\`` : ''}; task branches \`${p.integrationBranch.replace(/\/integration$/, '/tasks/')}<task>\``,
  ];
  const steps = nextSteps(p);
  if (p.reason || steps.length) {
    const label = { blocked: 'Blocked', paused: 'Paused', failed: 'Failed', cancelled: 'Cancelled' }[p.phase as string];
    head.push('');
    if (p.reason) head.push(...quoteReason(`${label ? `**${label}**: ` : ''}${p.reason}`));
    if (p.reason && steps.length) head.push('>');
    if (steps.length) head.push(`> **Next**: ${steps.map((s) => `\`${s}\``).join(' · ')}`);
  }
  const tail = queueLines(p);
  const budget = MAX_CURRENT_DETAILS_CHARS - [...head, ...tail].join('\n').length - 400;

  const rows = p.tasks.map((t) => {
    const attempts = t.attempts ? `${t.attempts}${t.iterations > 1 ? ` (${t.iterations} iterations)` : ''}` : '';
    const cost = t.costUsd ? usd(t.costUsd) : '';
    const tok = t.inputTokens || t.outputTokens ? `${tokens(t.inputTokens)}/${tokens(t.outputTokens)}` : '';
    const sha = t.headSha ? `\`${t.headSha.slice(0, 8)}\`` : '';
    return `| \`${t.id}\` | ${STATUS_MARK[t.status]} ${t.status} | ${attempts} | ${taskTime(t, today)} | ${cost} | ${tok} | ${sha} | ${t.error ? cell(t.error) : ''} |`;
  });
  const order = p.tasks
    .map((t, i) => i)
    .sort((a, b) => PRIORITY[p.tasks[a].status] - PRIORITY[p.tasks[b].status] || a - b);
  const kept = new Set<number>();
  let used = 0;
  for (const i of order) {
    if (used + rows[i].length + 1 > budget) break;
    kept.add(i);
    used += rows[i].length + 1;
  }
  const table = [
    '| task | status | attempts | time (UTC) | cost | tokens in/out | head | last error |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.filter((_, i) => kept.has(i)),
  ];
  const left = p.tasks.filter((_, i) => !kept.has(i));
  if (left.length > 0) {
    const byStatus = new Map<string, number>();
    for (const t of left) byStatus.set(t.status, (byStatus.get(t.status) ?? 0) + 1);
    table.push(
      '',
      `… ${left.length} more task${left.length === 1 ? '' : 's'} not shown (${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')}), to stay within Temporal's size limits: \`flotilla status ${p.missionId}\` lists them all.`,
    );
  }
  return [...head, '', ...table, ...(tail.length ? ['', ...tail] : [])].join('\n');
}

/** The merge queue's part of the details: the batch in flight, what waits, conflicts, verify runs, landing. */
function queueLines(p: MissionProgress): string[] {
  const q = p.mergeQueue;
  if (!q) return [];
  const ids = (xs: string[]): string => xs.map((x) => `\`${x}\``).join(', ');
  const out: string[] = [];
  const failedRuns = q.verifyRuns.filter((r) => !r.ok).length;
  out.push(
    `**Merge queue**: ${q.batch ? `batch ${q.batch.index} ${q.batch.step} (${ids(q.batch.taskIds)})` : 'idle'}${q.queue.length ? `; waiting to merge: ${ids(q.queue)}` : ''}; ${q.verifyRuns.length} verify run${q.verifyRuns.length === 1 ? '' : 's'}${failedRuns ? ` (${failedRuns} failed)` : ''} over ${q.batches} batch${q.batches === 1 ? '' : 'es'}`,
  );
  const lastFailed = [...q.verifyRuns].reverse().find((r) => !r.ok);
  if (lastFailed)
    out.push(
      `- last failed verify: ${cell(lastFailed.failed ?? '')} on ${ids(lastFailed.taskIds)} (${lastFailed.kind})`,
    );
  for (const c of q.conflicts.slice(-20)) {
    const cost = c.costUsd ? `, ${usd(c.costUsd)}` : '';
    out.push(
      `- conflict of \`${c.taskId}\`${c.withTasks.length ? ` with ${ids(c.withTasks)}` : ''} in ${ids(c.files.slice(0, 5))}${c.files.length > 5 ? ` and ${c.files.length - 5} more` : ''}: **${c.state}**${c.attempts ? ` (${c.attempts} resolver run${c.attempts === 1 ? '' : 's'}${cost})` : ''}${c.note ? `: ${cell(c.note)}` : ''}`,
    );
  }
  for (const x of q.predictedConflicts.slice(0, 10))
    out.push(`- predicted conflict: \`${x.a}\` and \`${x.b}\` in ${ids(x.files.slice(0, 5))}`);
  for (const [id, running] of Object.entries(q.waitingFor).slice(0, 10))
    if (running.length) out.push(`- \`${id}\` waits for ${ids(running)} (its \`touches\` match their changes)`);
  if (q.landing) out.push(`- landing (${q.landing.mode}): **${q.landing.status}**: ${cell(q.landing.message, 300)}`);
  return out;
}

/** What a task workflow knows about itself while it runs (kept by the workflow, rendered below). */
export interface TaskStory {
  /** What the task does now, in words: `preparing its worktree`, `agent running`, `gate running`, … */
  step: string;
  /** Gate iteration (1-based) and the most there may be. */
  iteration: number;
  maxIterations: number;
  /** Agent runs this task started (launches of `runAgent`, including resumed ones). */
  runs: number;
  /** Temporal attempts over every agent run (retries included). */
  attempts: number;
  sessionId: string | null;
  turns: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  /** When the agent last wrote an event, ISO-8601, as the last run that ended reported it. */
  lastEventAt: string | null;
  /** When the step began, ISO-8601 (workflow time). */
  since: string;
  /** The last gate result: the failing command and exit code, or `passed`. */
  gate: string | null;
  /** The failure being retried or waited out (a rate limit, a failed gate), or null. */
  retrying: string | null;
  /** How the task ended, once it has. */
  ended: string | null;
}

/**
 * A task's current details for the Web UI (Markdown): what it does now and since when, its gate
 * iteration, the agent's session, turns, cost, tokens and last event, the gate's last result and
 * the failure being retried. Deterministic in `s`.
 */
export function taskCurrentDetails(s: TaskStory): string {
  // A list, not a table: the Web UI gives current details half the page's width.
  const lines = [
    `**${s.ended ?? s.step}**${s.ended ? '' : ` since ${clock(s.since)}`} · iteration ${s.iteration} of ${s.maxIterations} · agent run${s.runs === 1 ? '' : 's'} ${s.runs}${s.attempts > s.runs ? ` (${s.attempts} attempts with retries)` : ''}`,
    '',
  ];
  // What needs attention first: the panel shows a few lines before it scrolls.
  if (s.retrying) lines.push(`- **Retrying**: ${cell(s.retrying, 600)}`);
  if (s.gate) lines.push(`- **Gate**: ${cell(s.gate, 300)}`);
  lines.push(
    `- **Cost** ${usd(s.costUsd)} · **tokens** ${tokens(s.inputTokens)} in / ${tokens(s.outputTokens)} out · **turns** ${s.turns}`,
    `- **Last agent event**: ${s.lastEventAt ? clock(s.lastEventAt) : 'none yet (known when a run ends)'}`,
    `- **Session**: ${s.sessionId ? `\`${s.sessionId}\`` : 'none yet'}`,
  );
  return lines.join('\n').slice(0, MAX_CURRENT_DETAILS_CHARS);
}
