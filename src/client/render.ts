/**
 * How the CLI shows missions to people: the `status` table and the `list` table, and the pieces
 * the other views share (render-plan.ts: `validate`; render-live.ts: `run`/`watch`).
 */
import Table from 'cli-table3';
import pc from 'picocolors';
import { byId } from '../mission/by-id';
import type { MissionProgress } from '../mission/progress';
import { nextSteps, STATUS_MARK, tokens, usd } from '../mission/story';
import type { MissionListing } from './visibility';
import { formatDuration, wallTimeMs } from '../mission/duration';

export function shortSha(sha: string | null): string {
  return sha ? sha.slice(0, 8) : '-';
}

/** How a table or a line is drawn: for a terminal (colour, its width) or for anything else. */
export interface RenderOptions {
  /** "Now", epoch ms: running tasks' durations end here. Default `Date.now()`. */
  now?: number;
  /** Columns available (default 100): long cells are cut to fit. */
  width?: number;
  /** ANSI colours; only for a terminal (default false). */
  color?: boolean;
}

/** The options for stdout: colour and its width on a terminal, plain 100 columns elsewhere. */
export function stdoutOptions(): RenderOptions {
  const tty = !!process.stdout.isTTY;
  return { color: tty && !process.env.NO_COLOR, width: tty ? Math.max(60, process.stdout.columns || 100) : 100 };
}

/** cli-table3 drawing no borders: columns separated by one space, as `git` and `kubectl` print. */
const PLAIN_CHARS: Record<string, string> = Object.fromEntries(
  [
    'top',
    'top-mid',
    'top-left',
    'top-right',
    'bottom',
    'bottom-mid',
    'bottom-left',
    'bottom-right',
    'left',
    'left-mid',
    'mid',
    'mid-mid',
    'right',
    'right-mid',
  ].map((k) => [k, '']),
);

/** A borderless table with these column widths (cells longer than their column end in `…`). */
function plainTable(head: string[], colWidths: number[], colors: Colors): Table.Table {
  return new Table({
    head: head.map((h) => colors.dim(h)),
    colWidths,
    chars: { ...PLAIN_CHARS, middle: ' ' },
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [], compact: true },
  });
}

/** The table's text without the padding cli-table3 puts at the end of each line. */
function tableText(t: Table.Table): string {
  return t
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
}

/** `text` in at most `max` characters (`…` marks a cut). */
export function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}

/**
 * `text` without terminal control characters (C0 but tab and newline, DEL, C1): errors and
 * transcripts are written by agents, and an escape sequence printed as is could rewrite the screen
 * or plant a link.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
}

/** The first line of `text`, trimmed, printable, at most `max` characters. */
function firstLine(text: string, max: number): string {
  return cut(printable(text.split('\n')[0]).trim(), max);
}

/** `2026-12-01 09:30:12 UTC` from ISO-8601. */
function utc(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** The wall time from `from` to `to` (ISO-8601) or, without it, to `now` (epoch ms), for people; '' before a start. */
export function span(from: string | null, to: string | null, now: number): string {
  const ms = wallTimeMs(from, to, now);
  return ms === null ? '' : formatDuration(ms);
}

type Colors = ReturnType<typeof pc.createColors>;
type Color = 'green' | 'red' | 'yellow' | 'cyan' | 'dim';

const PHASE_COLOR: Record<string, Color> = {
  completed: 'green',
  failed: 'red',
  cancelled: 'red',
  blocked: 'yellow',
  paused: 'yellow',
  running: 'cyan',
  merging: 'cyan',
};
const STATUS_COLOR: Record<string, Color> = {
  merged: 'green',
  succeeded: 'green',
  failed: 'red',
  conflict: 'yellow',
  running: 'cyan',
  skipped: 'dim',
  cancelled: 'dim',
};

function paint(colors: Colors, color: Color | undefined, text: string): string {
  return color ? colors[color](text) : text;
}

/** What the counts say beyond merged, in words: `1 running · 2 failed`. */
function countWords(p: MissionProgress): string[] {
  const c = p.counts;
  return (['running', 'succeeded', 'failed', 'conflict', 'skipped', 'cancelled'] as const)
    .filter((s) => c[s] > 0)
    .map((s) => `${c[s]} ${s === 'succeeded' ? 'to merge' : s}`);
}

/**
 * `flotilla status`: the story of the Web UI's current details, for a terminal. The phase with
 * how long the mission has run (or ran), counts, cost and tokens; why it is blocked, paused or
 * ended; a table of tasks by wave (status, attempts, time from start to end or now, cost, tokens,
 * head commit, and the first line of the last error under the task); the merge queue; and, when
 * the mission waits for someone or ended, the exact commands that go on (`nextSteps`).
 */
export function renderStatus(p: MissionProgress, opts: RenderOptions = {}): string {
  const now = opts.now ?? Date.now();
  const width = opts.width ?? 100;
  const colors = pc.createColors(!!opts.color);
  const took = p.endedAt ? `took ${span(p.startedAt, p.endedAt, now)}` : `${span(p.startedAt, null, now)} so far`;
  const c = p.counts;
  const lines = [
    `mission ${p.missionId}: ${paint(colors, PHASE_COLOR[p.phase], colors.bold(p.phase))} · ${took} (started ${utc(p.startedAt)}${p.endedAt ? `, ended ${utc(p.endedAt)}` : ''})`,
    `  ${[
      `${c.merged} of ${c.total} merged (${p.percent}%)`,
      ...countWords(p),
      `${usd(p.costUsd)}${p.budgetUsd ? ` of $${p.budgetUsd} budget` : ''}`,
      `${tokens(p.inputTokens)} in / ${tokens(p.outputTokens)} out tokens`,
    ].join(' · ')}`,
    `  ${p.origin ? 'origin' : 'repo'} ${p.repo} · ${p.baseBranch} @ ${shortSha(p.baseSha)} -> ${p.integrationBranch} @ ${shortSha(p.integrationSha)}`,
    ...(p.origin && p.host
      ? [`  mission host ${p.host}${p.previousHosts?.length ? ` (before: ${p.previousHosts.join(', ')})` : ''}`]
      : []),
  ];
  if (p.reason) {
    const [first, ...rest] = p.reason.split('\n');
    lines.push(`  ${paint(colors, PHASE_COLOR[p.phase], p.phase)}: ${first}`, ...rest.map((l) => `    ${l}`));
  }
  lines.push('', tasksTable(p, now, width, colors));
  const queue = renderQueue(p);
  if (queue.length) lines.push('', ...queue);
  const steps = nextSteps(p);
  if (steps.length) lines.push('', colors.bold('next:'), ...steps.map((s) => `  ${s}`));
  if (p.uiUrl) lines.push('', `Web UI: ${p.uiUrl}`);
  return lines.join('\n');
}

/** Where a task of a mission with an origin runs: `on h3`, `on h3 (from h2)`. */
function hostNote(t: MissionProgress['tasks'][number]): string {
  return `on ${t.host}${t.previousHosts?.length ? ` (from ${t.previousHosts.join(', ')})` : ''}`;
}

/** The task table of `status`: a row per task under its wave, its last error on the row below. */
function tasksTable(p: MissionProgress, now: number, width: number, colors: Colors): string {
  // Every column but the id's is fixed (54 characters with separators): the id gives way first.
  const idWidth = Math.min(Math.max(6, width - 54), Math.max(4, ...p.tasks.map((t) => t.id.length)));
  const colWidths = [1, idWidth, 9, 3, 7, 8, 11, 8];
  // The last column takes what the width leaves, so an error row (spanning every column but the
  // mark) may use the whole width; lines are trimmed, so a wide table costs nothing.
  const tableWidth = colWidths.reduce((a, b) => a + b, 0) + colWidths.length - 1;
  colWidths[colWidths.length - 1] += Math.max(0, width - tableWidth);
  const errorWidth = Math.max(tableWidth, width) - 2;
  const last = p.origin ? 'head on host' : 'head';
  const table = plainTable(['', 'task', 'status', 'att', 'time', 'cost', 'tokens', last], colWidths, colors);
  const rowOf = (t: MissionProgress['tasks'][number]): Table.HorizontalTableRow[] => {
    const rows: Table.HorizontalTableRow[] = [
      [
        paint(colors, STATUS_COLOR[t.status], STATUS_MARK[t.status] ?? '?'),
        t.id,
        paint(colors, STATUS_COLOR[t.status], t.status),
        t.attempts ? String(t.attempts) : '',
        span(t.startedAt, t.endedAt, now),
        t.costUsd ? usd(t.costUsd) : '',
        t.inputTokens || t.outputTokens ? `${tokens(t.inputTokens)}/${tokens(t.outputTokens)}` : '',
        [t.headSha ? shortSha(t.headSha) : '', p.origin && t.host ? hostNote(t) : ''].filter(Boolean).join(' '),
      ],
    ];
    if (t.error)
      rows.push(['', { colSpan: colWidths.length - 1, content: paint(colors, 'dim', firstLine(t.error, errorWidth)) }]);
    return rows;
  };
  const placed = new Set<string>();
  for (const w of p.waves) {
    const current = w.index === p.currentWave && !['merged', 'skipped'].includes(w.status);
    table.push([
      { colSpan: colWidths.length, content: colors.dim(`wave ${w.index} · ${w.status}${current ? ' ◀' : ''}`) },
    ]);
    for (const id of w.taskIds) {
      const t = byId(p.tasks, id);
      if (!t) continue;
      placed.add(id);
      table.push(...rowOf(t));
    }
  }
  for (const t of p.tasks) if (!placed.has(t.id)) table.push(...rowOf(t));
  return tableText(table);
}

/** A path cut from the left to `max` characters (`…/tasks/repo`): its end says the most. */
function tailOf(text: string, max: number): string {
  return text.length > max ? `…${text.slice(text.length - max + 1)}` : text;
}

/** `2026-12-01 09:30` (UTC) from ISO-8601; only the time when `sameDayAs` has the same date. */
function shortTime(iso: string, sameDayAs?: string): string {
  return sameDayAs && sameDayAs.slice(0, 10) === iso.slice(0, 10)
    ? iso.slice(11, 16)
    : `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

/**
 * `flotilla list`: a row per mission (id, phase, percent done, cost, repository, start and end in
 * UTC). A value a workflow lacks (one `mission-…` workflow Flotilla did not start) is blank.
 */
export function renderMissionList(missions: MissionListing[], opts: RenderOptions = {}): string {
  const width = opts.width ?? 100;
  const colors = pc.createColors(!!opts.color);
  const idWidth = Math.min(24, Math.max(7, ...missions.map((m) => m.missionId.length)));
  const colWidths = [idWidth, 9, 4, 8, 0, 16, 16];
  const fixed = colWidths.reduce((a, b) => a + b, 0) + colWidths.length - 1;
  colWidths[4] = Math.max(12, Math.min(80, width - fixed));
  const table = plainTable(['mission', 'phase', 'done', 'cost', 'repo', 'started (UTC)', 'ended'], colWidths, colors);
  for (const m of missions) {
    const phase = m.phase ?? m.status;
    table.push([
      m.missionId,
      paint(colors, PHASE_COLOR[phase], phase),
      m.percent === null ? '' : `${m.percent}%`,
      m.costUsd === null ? '' : usd(m.costUsd),
      m.repo === null ? '' : tailOf(m.repo, colWidths[4]),
      shortTime(m.startedAt),
      m.closedAt ? shortTime(m.closedAt, m.startedAt) : '',
    ]);
  }
  return tableText(table);
}

/** The merge queue's part of `status`: the batch in flight, what waits, conflicts, predictions. */
export function renderQueue(p: MissionProgress): string[] {
  const q = p.mergeQueue;
  if (!q) return [];
  const lines: string[] = [];
  if (q.batch) lines.push(`  merge queue: batch ${q.batch.index} ${q.batch.step} (${q.batch.taskIds.join(', ')})`);
  if (q.queue.length) lines.push(`  waiting to merge: ${q.queue.join(', ')}`);
  for (const c of q.conflicts) {
    const withWhom = c.withTasks.length ? ` with ${c.withTasks.join(', ')}` : '';
    lines.push(
      `  conflict ${c.taskId}${withWhom} in ${c.files.join(', ')}: ${c.state}${c.attempts ? ` (resolver runs: ${c.attempts})` : ''}`,
    );
    if (c.note) lines.push(`    ${c.note.split('\n')[0].slice(0, 300)}`);
  }
  for (const x of q.predictedConflicts) lines.push(`  predicted conflict: ${x.a} and ${x.b} in ${x.files.join(', ')}`);
  for (const [id, running] of Object.entries(q.waitingFor))
    if (running.length) lines.push(`  ${id} waits for ${running.join(', ')} (its touches match their changes)`);
  const failedRuns = q.verifyRuns.filter((r) => !r.ok).length;
  if (q.verifyRuns.length)
    lines.push(
      `  verify runs: ${q.verifyRuns.length}${failedRuns ? ` (${failedRuns} failed)` : ''} over ${q.batches} batches`,
    );
  return lines;
}
