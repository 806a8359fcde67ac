/**
 * What `run` and `watch` show while they follow a mission: the live line of each running agent
 * (a running task's, and the conflict resolver's while it works), the event lines printed when
 * something changes, and the summary at the end.
 */
import pc from 'picocolors';
import { byId } from '../mission/by-id';
import { formatDuration, wallTimeMs } from '../mission/duration';
import type { ConflictState, MissionProgress } from '../mission/progress';
import { nextSteps, STATUS_MARK } from '../mission/current-details';
import { AgentActivity, describeActivity, elapsed } from './activity';
import type { LiveAgent } from './live-tasks';
import { cut, printable, RenderOptions, renderQueue, shortSha, span } from './render';

/** What the agent does now: from its transcript, else its heartbeat, else whether a worker took it. */
function doing(live: LiveAgent | undefined, activity: AgentActivity | undefined, now: number): string {
  const beat = live?.heartbeat;
  if (activity) return printable(describeActivity(activity, now));
  if (live && !live.startedAt) return 'waiting for a worker';
  if (beat?.events && beat.lastEventAt)
    return `${beat.events} events, the last ${elapsed(now - Date.parse(beat.lastEventAt))} ago`;
  return live ? 'starting' : '';
}

/** The line as a terminal shows it: its first line, cut to the width. */
const fit = (line: string, opts: RenderOptions): string => cut(line.split('\n')[0], (opts.width ?? 100) - 1);

/**
 * One line of the live display per running task: `▶ add-greeting  attempt 2 · 4m 12s · Bash(npm test) for 35s`.
 * What the agent does comes from its transcript when it is on this host (`activity`), else from
 * its heartbeat (`live`: events and the last event's time); the elapsed time is the task's.
 */
export function renderTaskActivity(
  t: Pick<MissionProgress['tasks'][number], 'id' | 'startedAt' | 'attempts'>,
  live: LiveAgent | undefined,
  activity: AgentActivity | undefined,
  opts: RenderOptions & { idWidth?: number } = {},
): string {
  const now = opts.now ?? Date.now();
  const colors = pc.createColors(!!opts.color);
  const attempt = Math.max(live?.attempt ?? 0, t.attempts);
  const took = wallTimeMs(t.startedAt, null, now);
  const parts = [
    attempt > 1 ? `attempt ${attempt}` : '',
    took === null ? '' : elapsed(took),
    doing(live, activity, now),
  ];
  return fit(
    `  ${colors.cyan(STATUS_MARK.running)} ${t.id.padEnd(opts.idWidth ?? 0)}  ${parts.filter(Boolean).join(' · ')}`,
    opts,
  );
}

/** `with top in f.txt`: the tasks a conflict is with, and its files. */
const withWhom = (c: ConflictState): string =>
  `${c.withTasks.length ? `with ${c.withTasks.join(', ')} ` : ''}in ${c.files.join(', ')}`;

/** `late (conflict with top in f.txt)`: whose conflict the resolver works on. */
const conflictOf = (c: ConflictState): string => `${c.taskId} (conflict ${withWhom(c)})`;

/** Whether the resolver agent works on this conflict now (its worktree set up, runs, checks). */
export const resolverWorking = (c: ConflictState): boolean => c.state === 'resolving' || c.state === 'checking';

/**
 * The live line of the conflict resolver at work, like a running agent's:
 * `▶ resolver late (conflict with top in f.txt) · run 1 · 35s · Bash(git add f.txt) for 2s`. The
 * elapsed time is the resolution's (from when the queue met the conflict); what it does comes
 * from the resolver's transcript (`activity`) or its `runAgent` heartbeat (`live`), or is the
 * step around it (its worktree being set up, its resolution being checked).
 */
export function renderResolverActivity(
  c: ConflictState,
  live: LiveAgent | undefined,
  activity: AgentActivity | undefined,
  opts: RenderOptions = {},
): string {
  const now = opts.now ?? Date.now();
  const colors = pc.createColors(!!opts.color);
  const took = wallTimeMs(c.startedAt, c.endedAt, now);
  const what =
    c.state === 'checking'
      ? 'checking its resolution'
      : c.attempts === 0
        ? 'setting up the conflict worktree'
        : doing(live, activity, now) || 'starting';
  const parts = [c.attempts ? `run ${c.attempts}` : '', took === null ? '' : elapsed(took), what];
  return fit(
    `  ${colors.cyan(STATUS_MARK.running)} resolver ${conflictOf(c)} · ${parts.filter(Boolean).join(' · ')}`,
    opts,
  );
}

/** The event line of a conflict whose state changed (the resolver at work has its live line instead). */
function conflictEvent(c: ConflictState): string | null {
  const note = c.note ? `: ${c.note.split('\n')[0].slice(0, 300)}` : '';
  switch (c.state) {
    case 'resolved': {
      // Resolved by the resolver (it has a start), or by a person on the task branch (the note says so).
      const took = wallTimeMs(c.startedAt, c.endedAt, Date.now());
      const how = took === null ? `: ${c.note ?? 'resolved'}` : ` resolved by the resolver in ${formatDuration(took)}`;
      return `  ${STATUS_MARK.succeeded} conflict of ${c.taskId} ${withWhom(c)}${how}`;
    }
    case 'replayed':
      return `  ${STATUS_MARK.succeeded} conflict of ${c.taskId} ${withWhom(c)}: resolution replayed by git rerere`;
    case 'rejected':
      return `  ${STATUS_MARK.failed} resolver ${conflictOf(c)}: resolution rejected after run ${c.attempts}${note}`;
    default:
      return null;
  }
}

/** Lines describing what changed between two progress snapshots (for `run` and `watch`). */
export function progressEvents(prev: MissionProgress | undefined, next: MissionProgress): string[] {
  // Tasks first, then conflicts, then waves, then the mission: the order in which things happen.
  const out: string[] = [];
  for (const t of next.tasks) {
    const before = prev && byId(prev.tasks, t.id);
    if (before?.status === t.status && before?.error === t.error) continue;
    if (!before && t.status === 'pending') continue;
    let line = `  ${STATUS_MARK[t.status] ?? '?'} ${t.id} ${t.status}`;
    if ((t.status === 'succeeded' || t.status === 'merged') && t.diffstat && before?.status !== 'succeeded') {
      line += ` (${t.diffstat.files} files, +${t.diffstat.insertions}/-${t.diffstat.deletions})`;
    }
    if (t.status === 'merged') line += ` into ${next.integrationBranch}`;
    if (t.error) line += `: ${t.error.split('\n')[0].slice(0, 300)}`;
    out.push(line);
  }
  for (const c of next.mergeQueue?.conflicts ?? []) {
    const before = prev?.mergeQueue?.conflicts.find((x) => x.taskId === c.taskId);
    if (before?.state === c.state && before?.attempts === c.attempts) continue;
    const line = conflictEvent(c);
    if (line) out.push(line);
  }
  for (const w of next.waves) {
    const before = prev?.waves[w.index];
    if (before?.status !== w.status && w.status !== 'pending')
      out.push(`wave ${w.index} ${w.status} (${w.taskIds.join(', ')})`);
  }
  const reason = next.reason?.split('\n')[0];
  if (!prev || prev.phase !== next.phase) out.push(`mission ${next.phase}${reason ? `: ${reason}` : ''}`);
  else if (prev.reason !== next.reason && reason) out.push(`mission ${next.phase}: ${reason}`);
  return out;
}

/**
 * The summary `run` and `watch` print when the mission ended: how it ended and its wall time (the
 * same as `status` says: from its start to its end, whenever this command began following it),
 * the integration branch, the merge queue, the commands that go on.
 */
export function renderSummary(p: MissionProgress, now: number = Date.now()): string {
  const lines = [
    '',
    `mission ${p.missionId} ${p.phase} in ${span(p.startedAt, p.endedAt, now)}: ${p.counts.merged}/${p.counts.total} tasks merged${p.reason ? ` (${p.reason.split('\n')[0]})` : ''}`,
    `  integration branch: ${p.integrationBranch} @ ${shortSha(p.integrationSha)} in ${p.repo}`,
    `  look:   git -C ${p.repo} log --graph --oneline ${p.integrationBranch}`,
  ];
  lines.push(...renderQueue(p));
  const steps = nextSteps(p);
  if (steps.length) lines.push(`  next:   ${steps.join('\n          ')}`);
  if (p.uiUrl) lines.push(`  Web UI: ${p.uiUrl}`);
  return lines.join('\n');
}
