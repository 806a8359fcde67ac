/**
 * The report's extraction on real recorded histories: test/fixtures/report (a mission with a
 * retried agent attempt, a failed task, its skipped dependent and a gate that passed on its second
 * iteration; recorded by test/e2e/report.test.ts) and the replay fixtures of test/fixtures/histories
 * (merge queue, bisection and a fix round, conflict resolution, skip).
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildReport } from '../../src/client/report/build';
import { MISSION_ROW, ReportData, RunHistory, Segment, VERIFY_ROW } from '../../src/client/report/model';
import type { MissionProgress } from '../../src/mission/progress';

const fixtures = path.join(__dirname, '..', 'fixtures');

/** A recorded mission: its histories (every run of each) and its final progress (its close event). */
function recorded(
  folder: string,
  missionId: string,
): { progress: MissionProgress; mission: RunHistory; tasks: RunHistory[] } {
  const dir = path.join(fixtures, folder);
  const runs = readdirSync(dir)
    .filter((f) => f === `mission-${missionId}.json` || f.startsWith(`mission-${missionId}__task-`))
    .map((f) => ({
      // `<id>~2.json`: a later run of the same workflow id (test/helpers/histories.ts).
      workflowId: f.replace(/(~\d+)?\.json$/, '').replace('__', '/'),
      runId: f,
      history: historyFromJSON(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))),
    }));
  const mission = runs.find((r) => !r.workflowId.includes('/'))!;
  const events = mission.history.events!;
  const close = events[events.length - 1];
  const payload =
    close.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0] ??
    close.workflowExecutionFailedEventAttributes?.failure?.applicationFailureInfo?.details?.payloads?.[0];
  const progress = defaultPayloadConverter.fromPayload<MissionProgress>(payload!);
  return { progress, mission, tasks: runs.filter((r) => r !== mission) };
}

function report(folder: string, missionId: string, now = Date.parse('2030-01-01T00:00:00Z')): ReportData {
  const { progress, mission, tasks } = recorded(folder, missionId);
  return buildReport({ progress, missionRuns: [mission], taskRuns: tasks, now });
}

const spans = (r: ReportData, row: string, kind?: Segment['kind']): Segment[] =>
  r.segments.filter((s) => s.row === row && (!kind || s.kind === kind));

describe('a mission with a retried attempt, a failed task, a skipped dependent and a gate iteration', () => {
  const r = report('report', 'report-failures');

  test('the header: phase, reason, counts, one workflow run, the time from start to end', () => {
    expect(r.mission).toMatchObject({
      id: 'report-failures',
      phase: 'failed',
      reason: 'not every task merged: broken failed, after-broken skipped',
      runs: 1,
      concurrency: 4,
    });
    expect(r.mission.counts).toMatchObject({ total: 4, merged: 2, failed: 1, skipped: 1 });
    expect(r.mission.durationMs).toBe(r.mission.endedAt! - r.mission.startedAt);
    expect(r.mission.durationMs).toBeGreaterThan(5000); // the retry waited 5 s for its backoff
  });

  test('rows: the mission, then the tasks by wave in file order (no verify row: the mission has no verify)', () => {
    expect(r.rows.map((x) => x.id)).toEqual([MISSION_ROW, 'flaky', 'broken', 'gated', 'after-broken']);
  });

  test('the retried agent: its first attempt as a retried span up to the second, with the failure it retried after', () => {
    const [retried] = spans(r, 'flaky', 'retried');
    const [agent] = spans(r, 'flaky', 'agent');
    expect(retried.end).toBe(agent.start);
    expect(retried.end - retried.start).toBeGreaterThanOrEqual(5000);
    expect(retried.detail).toBe('last failure: agent exited with code 1: first attempt fails');
    expect([agent.outcome, agent.label]).toEqual(['ok', 'agent attempt 2 · iteration 1']);
    // What the Web UI's event history says of it, for the tooltip.
    expect(agent.summary).toBe('command · flaky · iteration 1, run 1');
    expect(r.failures).toContainEqual(
      expect.objectContaining({
        kind: 'attempt',
        taskId: 'flaky',
        message: 'flaky: agent attempt 1 failed (retried as attempt 2): agent exited with code 1: first attempt fails',
      }),
    );
    // Every task's spans are in order and inside the mission.
    for (const s of r.segments) {
      expect(s.end).toBeGreaterThanOrEqual(s.start);
      expect(s.start).toBeGreaterThanOrEqual(r.mission.startedAt - 50);
      expect(s.end).toBeLessThanOrEqual(r.mission.endedAt! + 50);
    }
  });

  test("the failed task: its attempt failed with the agent's words, its work checkpointed, the task failure", () => {
    expect(spans(r, 'broken').map((s) => [s.kind, s.outcome])).toEqual([
      ['queued', 'ok'],
      ['setup', 'ok'],
      ['agent', 'failed'],
      ['commit', 'ok'],
    ]);
    expect(spans(r, 'broken', 'agent')[0].detail).toBe('agent exited with code 3: cannot </script><b>do</b> it');
    expect(r.failures.filter((f) => f.taskId === 'broken').map((f) => [f.kind, f.message])).toEqual([
      ['attempt', 'broken: agent attempt 1 failed (AgentExit): agent exited with code 3: cannot </script><b>do</b> it'],
      ['task', 'broken failed: agent exited with code 3: cannot </script><b>do</b> it'],
    ]);
  });

  test('the dependent waited for it, then never started (skipped) until the mission ended', () => {
    const [waiting, never] = spans(r, 'after-broken');
    const brokenEnd = Date.parse(r.tasks.find((t) => t.id === 'broken')!.endedAt!);
    expect([waiting.kind, waiting.start, waiting.end]).toEqual(['waiting', r.mission.startedAt, brokenEnd]);
    expect([never.kind, never.start, never.end, never.label]).toEqual([
      'not-started',
      brokenEnd,
      r.mission.endedAt,
      'never started (skipped)',
    ]);
  });

  test('the gate: iteration 1 failed with its command, iteration 2 passed; then merged', () => {
    const gates = spans(r, 'gated', 'gate');
    expect(gates.map((g) => [g.outcome, g.label])).toEqual([
      ['failed', 'gate (task verify) · iteration 1: `grep -q two gated.txt` failed (exit 1)'],
      ['ok', 'gate (task verify) · iteration 2: passed'],
    ]);
    expect(spans(r, 'gated', 'agent').map((a) => a.label)).toEqual([
      'agent attempt 1 · iteration 1',
      'agent attempt 1 · iteration 2',
    ]);
    const merged = spans(r, 'gated', 'merged')[0];
    expect(merged.start).toBe(Date.parse(r.tasks.find((t) => t.id === 'gated')!.mergedAt!));
    expect(spans(r, 'gated', 'merge')[0].end).toBeLessThanOrEqual(merged.start);
  });

  test('cost by runtime and the tasks as the report lists them', () => {
    expect(r.costByRuntime).toEqual([{ label: 'command', tasks: 4, costUsd: 0, inputTokens: 0, outputTokens: 0 }]);
    expect(r.tasks.map((t) => [t.id, t.status, t.wave, t.dependsOn, t.attempts])).toEqual([
      ['flaky', 'merged', 0, [], 2],
      ['broken', 'failed', 0, [], 1],
      ['after-broken', 'skipped', 1, ['broken'], 0],
      ['gated', 'merged', 0, [], 2],
    ]);
  });
});

test('a running attempt ends at now; its attempt, start and earlier failure come from the pending activity', () => {
  const { progress, mission, tasks } = recorded('report', 'report-failures');
  const flaky = tasks.find((t) => t.workflowId.endsWith('/task-flaky'))!;
  const events = flaky.history.events!;
  // The history as it was while the agent ran: up to its scheduling (its started event comes at its end).
  const at = events.findIndex((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent');
  const scheduled = events[at];
  const running: RunHistory = {
    ...flaky,
    history: { events: events.slice(0, at + 1) },
    pending: [
      {
        activityId: scheduled.activityTaskScheduledEventAttributes!.activityId!,
        attempt: 2,
        startedAt: Number(scheduled.eventTime!.seconds) * 1000 + 6000,
        lastFailure: 'agent exited with code 1: first attempt fails',
      },
    ],
  };
  const now = Number(scheduled.eventTime!.seconds) * 1000 + 9000;
  const r = buildReport({ progress, missionRuns: [mission], taskRuns: [running], now });
  const [retried, agent] = [spans(r, 'flaky', 'retried')[0], spans(r, 'flaky', 'agent')[0]];
  expect([retried.end, retried.detail]).toEqual([
    now - 3000,
    'last failure: agent exited with code 1: first attempt fails',
  ]);
  expect([agent.start, agent.end, agent.outcome, agent.label.split(' · ')[0]]).toEqual([
    now - 3000,
    now,
    'running',
    'agent attempt 2',
  ]);
  // Without the description, the attempt shows as scheduled and running until now.
  const bare = buildReport({ progress, missionRuns: [mission], taskRuns: [{ ...running, pending: undefined }], now });
  expect(spans(bare, 'flaky', 'agent').map((s) => [s.end, s.outcome])).toEqual([[now, 'running']]);
});

test('the merge queue: verify runs on their own row, named by batch and kind; the bisected culprit', () => {
  const r = report('histories/current', 'bisect-it');
  const { progress } = recorded('histories/current', 'bisect-it');
  const verify = spans(r, VERIFY_ROW, 'verify');
  expect(verify).toHaveLength(progress.mergeQueue!.verifyRuns.length);
  expect(verify.map((v) => v.label.replace(/ on [0-9a-f]{12}.*$/, ''))).toEqual(
    progress.mergeQueue!.verifyRuns.map((v) => `verify batch ${v.batch} · ${v.kind} · ${v.taskIds.join(', ')}`),
  );
  expect(verify.map((v) => v.outcome)).toEqual(progress.mergeQueue!.verifyRuns.map((v) => (v.ok ? 'ok' : 'failed')));
  expect(r.rows[1]).toEqual({ id: VERIFY_ROW, label: 'mission verify', kind: 'verify' });
  // The failing bisection step names the last task of its prefix: the culprit.
  const bisect = r.failures.filter((f) => f.kind === 'verify' && f.message.includes('· bisect ·'));
  expect(bisect.map((f) => f.taskId)).toEqual(['r']);
  // Every task merged once onto the candidate, then published at its mergedAt.
  for (const t of progress.tasks) {
    expect(spans(r, t.id, 'merged').map((s) => s.start)).toEqual([Date.parse(t.mergedAt!)]);
    expect(spans(r, t.id, 'merge').length).toBeGreaterThanOrEqual(1);
  }
  // The workflow's summaries (since the Web UI story) come along for the tooltips.
  expect(spans(r, 'r', 'merge')[0].summary).toMatch(
    /^merge \d+ onto [0-9a-f]{8} \(batch \d+\): (?:\w+, )*r(?:, \w+)*$/,
  );
});

test('a culprit sent back to its agent: its fix round (a second run) synced to the failed candidate first', () => {
  const r = report('histories/current', 'bisect-it');
  const worktree = expect.stringMatching(/^worktree for r from [0-9a-f]{8}$/);
  expect(spans(r, 'r', 'setup').map((s) => [s.label, s.summary])).toEqual([
    ['worktree and setup', worktree],
    ['worktree and setup', worktree],
    [
      'sync to the failed candidate',
      expect.stringMatching(/^fast-forward flotilla\/bisect-it\/tasks\/r to the failing candidate [0-9a-f]{8}$/),
    ],
  ]);
  expect(spans(r, 'r', 'agent').map((s) => s.label)).toEqual([
    'agent attempt 1 · iteration 1',
    'agent attempt 1 · iteration 1 · fix round 1',
  ]);
});

test('a conflict resolved: the merge that met it, the resolver run and the checks on the task row; the resolver apart in cost', () => {
  const r = report('histories/current', 'resolve-it');
  expect(
    r.segments
      .filter((s) => s.row === 'fr' && ['merge', 'resolve', 'resolver'].includes(s.kind))
      .map((s) => [s.kind, s.outcome, s.label]),
  ).toEqual([
    ['merge', 'failed', 'merge: conflict in shared.txt'],
    ['resolve', 'ok', 'conflict worktree prepared'],
    ['resolver', 'ok', 'resolver run 1 · attempt 1'],
    ['resolve', 'ok', 'resolution checked'],
    ['resolve', 'ok', 'resolution checks passed'],
    ['resolve', 'ok', 'resolution committed'],
  ]);
  const conflict = r.failures.find((f) => f.kind === 'conflict')!;
  expect(conflict).toMatchObject({
    taskId: 'fr',
    message: 'fr: merge conflict with en in shared.txt: resolved (resolver runs: 1)',
  });
  expect(conflict.at).toBe(spans(r, 'fr', 'merge')[0].end);
  expect(r.costByRuntime.map((c) => c.label)).toEqual(['command', 'command (resolver)']);
});

test('a skipped running task: its agent cancelled; its dependent waited, then never started', () => {
  const r = report('histories/current', 'retry-skip');
  expect(spans(r, 'x', 'agent').map((s) => [s.outcome, s.detail])).toEqual([['cancelled', 'cancelled']]);
  expect(spans(r, 'y').map((s) => s.kind)).toEqual(['waiting', 'not-started']);
  expect(r.failures.find((f) => f.taskId === 'y')!.message).toBe('y skipped: skipped: depends on x (skipped by user)');
});
