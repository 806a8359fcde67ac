/**
 * What the terminal shows: `status` as a table (widths, long errors, the commands that go on),
 * `list`'s table, and the live line of a running task.
 */
import type { AgentActivity } from '../../src/client/activity';
import { printable, renderMissionList, renderStatus } from '../../src/client/render';
import {
  progressEvents,
  renderResolverActivity,
  renderSummary,
  renderTaskActivity,
} from '../../src/client/render-live';
import type { MissionListing } from '../../src/client/visibility';
import { ConflictState, deriveProgress, initialState, MissionProgress, MissionState } from '../../src/mission/progress';
import { mission, task, wavesOf } from '../helpers/missions';

const T0 = '2026-12-01T09:30:00.000Z';
const NOW = Date.parse('2026-12-01T09:35:00.000Z');
const LONG_ERROR = `exit 1: npm test failed: ${'expected the greeting to be polite '.repeat(12)}\n    at the second line`;

function blocked(): MissionProgress {
  const spec = mission('needs-human', '/tmp/repo', [
    task('one', 'x'),
    task('a-rather-long-task-identifier', 'x'),
    task('three', 'x', { dependsOn: ['one'] }),
  ]);
  const s: MissionState = initialState(spec, wavesOf(spec), T0);
  s.blocked = true;
  s.phase = 'running';
  s.reason =
    'task a-rather-long-task-identifier: merge conflict in shared.txt; fix it on its branch and run `flotilla resume needs-human`, or `flotilla skip needs-human a-rather-long-task-identifier`';
  s.baseSha = 'a'.repeat(40);
  s.integrationSha = 'b'.repeat(40);
  s.waves[0].status = 'merging';
  Object.assign(s.tasks[0], {
    status: 'merged',
    attempts: 1,
    startedAt: '2026-12-01T09:30:01.000Z',
    endedAt: '2026-12-01T09:30:13.000Z',
    headSha: 'c'.repeat(40),
    costUsd: 0.0123,
    inputTokens: 12_345,
    outputTokens: 678,
  });
  Object.assign(s.tasks[1], {
    status: 'conflict',
    attempts: 2,
    startedAt: '2026-12-01T09:30:01.000Z',
    endedAt: '2026-12-01T09:31:13.000Z',
    headSha: 'd'.repeat(40),
    error: LONG_ERROR,
  });
  return deriveProgress('needs-human', s);
}

/** The lines of the task table: from its header to the blank line after it. */
function tableLines(out: string): string[] {
  const lines = out.split('\n');
  const start = lines.findIndex((l) => /^\s+task\s+status\s+att\s+time\s+cost\s+tokens\s+head$/.test(l));
  expect(start).toBeGreaterThan(0);
  const end = lines.indexOf('', start);
  return lines.slice(start, end);
}

test('status of a blocked mission: phase and time, a row per task by wave, the error cut to one line, the unblocking commands', () => {
  const out = renderStatus(blocked(), { now: NOW, width: 100 });
  const lines = out.split('\n');
  expect(lines[0]).toBe('mission needs-human: blocked · 5m 0s so far (started 2026-12-01 09:30:00 UTC)');
  expect(lines[1]).toBe('  1 of 3 merged (33%) · 1 conflict · $0.0123 · 12k in / 678 out tokens');
  expect(out).toContain('  blocked: task a-rather-long-task-identifier: merge conflict in shared.txt');
  const table = tableLines(out);
  expect(table.slice(1)).toEqual([
    'wave 0 · merging ◀',
    expect.stringMatching(/^✔ one +merged +1 +12s +\$0\.0123 +12k\/678 +cccccccc$/),
    expect.stringMatching(/^⚠ a-rather-long-task-identifier conflict +2 +1m 12s +dddddddd$/),
    expect.stringMatching(/^ {2}exit 1: npm test failed: expected the greeting to be polite .*…$/),
    'wave 1 · pending',
    expect.stringMatching(/^· three +pending$/),
  ]);
  for (const l of table) expect(l.length).toBeLessThanOrEqual(100);
  expect(out).not.toContain('second line');
  // The commands the reason names, then resume (once): exactly what unblocks it.
  expect(out).toContain(
    '\nnext:\n  flotilla resume needs-human\n  flotilla skip needs-human a-rather-long-task-identifier',
  );
  expect(out).not.toMatch(/\x1b\[/); // eslint-disable-line no-control-regex
});

test('status at narrow widths: the id column gives way, no table line is wider than the terminal', () => {
  for (const width of [60, 72, 80]) {
    const table = tableLines(renderStatus(blocked(), { now: NOW, width }));
    for (const l of table) expect({ width, l, length: l.length <= width }).toEqual({ width, l, length: true });
    expect(table.join('\n')).toMatch(/…/);
  }
  // Wider: the error line uses the width (up to it), the id is whole.
  const wide = tableLines(renderStatus(blocked(), { now: NOW, width: 160 }));
  expect(wide.join('\n')).toContain('a-rather-long-task-identifier conflict');
  const errorLine = wide.find((l) => l.includes('npm test failed'))!;
  expect(errorLine.length).toBe(160);
});

test('status of running, failed and completed missions: durations to now, then retry or land as the next step', () => {
  const running = blocked();
  running.phase = 'running';
  running.reason = null;
  running.tasks[2] = { ...running.tasks[2], status: 'running', attempts: 1, startedAt: '2026-12-01T09:33:30.000Z' };
  const r = renderStatus(running, { now: NOW });
  expect(r).toMatch(/^▶ three +running +1 +1m 30s$/m);
  expect(r).not.toContain('next:');

  const failed = blocked();
  failed.phase = 'failed';
  failed.endedAt = '2026-12-01T09:40:00.000Z';
  failed.reason = 'task three failed';
  failed.tasks[2] = { ...failed.tasks[2], status: 'failed', attempts: 3, error: 'exit 2' };
  const f = renderStatus(failed, { now: NOW });
  expect(f.split('\n')[0]).toBe(
    'mission needs-human: failed · took 10m 0s (started 2026-12-01 09:30:00 UTC, ended 2026-12-01 09:40:00 UTC)',
  );
  expect(f).toContain('\nnext:\n  flotilla retry needs-human three');

  const completed = { ...failed, phase: 'completed' as const, reason: null };
  expect(renderStatus(completed, { now: NOW })).toContain('\nnext:\n  flotilla land needs-human');
});

test('colour only when asked (a terminal)', () => {
  expect(renderStatus(blocked(), { now: NOW, color: true })).toMatch(/\x1b\[33m/); // eslint-disable-line no-control-regex
});

test('list: a row per mission, the repository cut from the left, blanks for a workflow without the attributes', () => {
  const missions: MissionListing[] = [
    {
      missionId: 'needs-human',
      workflowId: 'mission-needs-human',
      status: 'running',
      phase: 'blocked',
      percent: 33,
      costUsd: 0.0123,
      repo: `/tmp/${'deep/'.repeat(20)}flotilla-repo-abcdef`,
      runtimes: ['command'],
      startedAt: T0,
      closedAt: null,
    },
    {
      missionId: 'by-hand',
      workflowId: 'mission-by-hand',
      status: 'completed',
      phase: 'completed',
      percent: null,
      costUsd: null,
      repo: null,
      runtimes: [],
      startedAt: '2026-11-30T23:59:00.000Z',
      closedAt: '2026-12-01T00:01:00.000Z',
    },
  ];
  const lines = renderMissionList(missions, { width: 100 }).split('\n');
  expect(lines[0]).toMatch(/^mission +phase +done +cost +repo +started \(UTC\) +ended$/);
  expect(lines[1]).toMatch(/^needs-human blocked +33% +\$0\.0123 +….*\/flotilla-repo-abcdef 2026-12-01 09:30$/);
  // Ended on another day than it started: the date is shown.
  expect(lines[2]).toMatch(/^by-hand +completed +2026-11-30 23:59 2026-12-01 00:01$/);
  expect(lines).toHaveLength(3);
  for (const l of lines) expect(l.length).toBeLessThanOrEqual(100);
});

test('the live line of a running task: what its agent does from the transcript, else from its heartbeat', () => {
  const t = { id: 'add-greeting', startedAt: '2026-12-01T09:31:00.000Z', attempts: 1 };
  const activity: AgentActivity = {
    runtime: 'claude',
    tool: 'Bash(npm test)',
    toolAt: NOW - 35_000,
    toolRunning: true,
    lastEventAt: NOW - 35_000,
    exited: false,
  };
  const live = {
    attempt: 2,
    startedAt: NOW - 60_000,
    heartbeat: { events: 7, lastEventAt: new Date(NOW - 3000).toISOString() },
  };
  expect(renderTaskActivity(t, live, activity, { now: NOW, idWidth: 14 })).toBe(
    '  ▶ add-greeting    attempt 2 · 4m 0s · Bash(npm test) for 35s',
  );
  // The worker runs on another host: no transcript here, the heartbeat still says it is alive.
  expect(renderTaskActivity(t, live, undefined, { now: NOW })).toBe(
    '  ▶ add-greeting  attempt 2 · 4m 0s · 7 events, the last 3s ago',
  );
  expect(renderTaskActivity(t, { attempt: 2, startedAt: null, heartbeat: null }, undefined, { now: NOW })).toBe(
    '  ▶ add-greeting  attempt 2 · 4m 0s · waiting for a worker',
  );
  // Its first heartbeat, before the agent wrote anything.
  expect(
    renderTaskActivity(t, { attempt: 1, startedAt: NOW - 500, heartbeat: { events: 0 } }, undefined, { now: NOW }),
  ).toBe('  ▶ add-greeting  4m 0s · starting');
  const long = renderTaskActivity(t, live, { ...activity, tool: `Bash(${'x'.repeat(200)})` }, { now: NOW, width: 80 });
  expect(long.length).toBeLessThanOrEqual(79);
  expect(long.endsWith('…')).toBe(true);
});

test('text written by agents loses terminal control characters: no escape sequence reaches the screen', () => {
  expect(printable('ok\u001b]52;c;cGF3bmVk\u0007 done\r\u009b2J')).toBe('ok]52;c;cGF3bmVk done2J');
  expect(printable('tab\tand\nnewline stay')).toBe('tab\tand\nnewline stay');
});

test('status of a mission with an origin: the origin, the mission host and where each task runs (and ran)', () => {
  const spec = {
    ...mission('spread', '/srv/git/app.git', [task('a', 'x'), task('b', 'x')]),
    origin: '/srv/git/app.git',
  };
  const s: MissionState = initialState(spec, wavesOf(spec), T0);
  Object.assign(s, { phase: 'running', hostQueue: 'flotilla@h3', previousHosts: ['h1'] });
  Object.assign(s.tasks[0], { status: 'running', startedAt: T0, host: 'h2', previousHosts: ['h1'] });
  Object.assign(s.tasks[1], { status: 'running', startedAt: T0, host: 'h3', headSha: 'c'.repeat(40) });
  const out = renderStatus(deriveProgress('spread', s), { now: NOW, width: 100 });
  expect(out).toContain('  origin /srv/git/app.git · main @');
  expect(out).toContain('  mission host h3 (before: h1)');
  expect(out).toMatch(/head on host/);
  expect(out).toMatch(/ a +running .* on h2 \(from h1\)/);
  expect(out).toMatch(/ b +running .* cccccccc on h3/);
  // Without an origin, none of it.
  const plain = renderStatus(
    deriveProgress('plain', initialState(mission('plain', '/tmp/repo', [task('a', 'x')]), [['a']], T0)),
    {
      now: NOW,
      width: 100,
    },
  );
  expect(plain).not.toMatch(/origin|mission host|on host/);
});

test('the live line of the conflict resolver at work: whose conflict, its run, how long, what it does', () => {
  const c: ConflictState = {
    taskId: 'late',
    files: ['f.txt'],
    withTasks: ['top'],
    state: 'resolving',
    attempts: 0,
    note: null,
    startedAt: new Date(NOW - 2000).toISOString(),
    endedAt: null,
  };
  expect(renderResolverActivity(c, undefined, undefined, { now: NOW })).toBe(
    '  ▶ resolver late (conflict with top in f.txt) · 2s · setting up the conflict worktree',
  );
  const activity: AgentActivity = {
    runtime: 'claude',
    tool: 'Edit(f.txt)',
    toolAt: NOW - 4000,
    toolRunning: true,
    lastEventAt: NOW - 4000,
    exited: false,
  };
  const live = { attempt: 1, startedAt: NOW - 30_000, heartbeat: null };
  expect(
    renderResolverActivity({ ...c, attempts: 1, startedAt: new Date(NOW - 35_000).toISOString() }, live, activity, {
      now: NOW,
    }),
  ).toBe('  ▶ resolver late (conflict with top in f.txt) · run 1 · 35s · Edit(f.txt) for 4s');
  expect(renderResolverActivity({ ...c, attempts: 2, state: 'checking' }, live, activity, { now: NOW })).toBe(
    '  ▶ resolver late (conflict with top in f.txt) · run 2 · 2s · checking its resolution',
  );
});

test("run and watch: conflict events, and the summary's duration is the mission's wall time, not the follower's", () => {
  const before = blocked();
  const conflict: ConflictState = {
    taskId: 'a-rather-long-task-identifier',
    files: ['shared.txt'],
    withTasks: ['one'],
    state: 'resolving',
    attempts: 1,
    note: null,
    startedAt: '2026-12-01T09:31:00.000Z',
    endedAt: null,
  };
  const withQueue = (c: ConflictState, p: MissionProgress): MissionProgress => ({
    ...p,
    mergeQueue: {
      queue: [],
      batch: null,
      batches: 1,
      conflicts: [c],
      verifyRuns: [],
      predictedConflicts: [],
      waitingFor: {},
      landing: null,
    },
  });
  const resolving = withQueue(conflict, before);
  const resolved = withQueue(
    { ...conflict, state: 'resolved', note: 'kept both', endedAt: '2026-12-01T09:31:40.000Z' },
    before,
  );
  expect(progressEvents(resolving, resolved)).toEqual([
    '  ✓ conflict of a-rather-long-task-identifier with one in shared.txt resolved by the resolver in 40s',
  ]);
  const byHand = withQueue(
    { ...conflict, startedAt: undefined, state: 'resolved', note: 'resolved by hand on the task branch, then resumed' },
    before,
  );
  expect(progressEvents(withQueue({ ...conflict, startedAt: undefined, state: 'blocked' }, before), byHand)).toEqual([
    '  ✓ conflict of a-rather-long-task-identifier with one in shared.txt: resolved by hand on the task branch, then resumed',
  ]);
  // A reason with commands: the event line is its first line.
  expect(progressEvents(undefined, { ...before, reason: 'task x: merge conflict in f.txt\n  cd /wt' }).at(-1)).toBe(
    'mission blocked: task x: merge conflict in f.txt',
  );
  const ended = { ...before, phase: 'completed' as const, reason: null, endedAt: '2026-12-01T09:33:01.000Z' };
  // Followed from 09:35 (long after it ended): the summary still says 3m 1s, as status does.
  expect(renderSummary(ended, NOW)).toContain('mission needs-human completed in 3m 1s: 1/3 tasks merged');
  expect(renderStatus(ended, { now: NOW })).toMatch(/^mission needs-human: completed · took 3m 1s \(/);
});
