/** The usage ledger (src/mission/usage.ts): every way turns, cost and tokens add up. */
import {
  activityStart,
  addAgentRun,
  forgetSession,
  missionCost,
  RunMeter,
  sessionBaseFor,
  taskUsage,
} from '../../src/mission/usage';

describe('a run', () => {
  test('a fresh session counts what the agent reports', () => {
    const usage = activityStart({ resumeSessionId: null });
    const meter = new RunMeter(usage, false);
    meter.apply({ sessionId: 's1' });
    meter.apply({ turn: true, inputTokens: 10, outputTokens: 5 });
    meter.apply({ turn: true, inputTokens: 20, outputTokens: 7 });
    meter.apply({ totalCostUsd: 0.25, totalTurns: 2 });
    expect(usage).toEqual({
      sessionId: 's1',
      sessionCostUsd: 0.25,
      sessionInputTokens: 0,
      sessionOutputTokens: 0,
      turns: 2,
      costUsd: 0.25,
      inputTokens: 30,
      outputTokens: 12,
    });
  });

  test("a resumed Claude session counts only the difference from the session's cost so far", () => {
    const usage = activityStart({ resumeSessionId: 's1', sessionCostUsd: 1.0 });
    new RunMeter(usage, true).apply({ totalCostUsd: 1.4 });
    expect(usage.costUsd).toBeCloseTo(0.4);
    expect(usage.sessionCostUsd).toBeCloseTo(1.4);
  });

  test("a resumed Codex session counts only the difference from the session's tokens so far", () => {
    const usage = activityStart({ resumeSessionId: 'c1', sessionInputTokens: 1000, sessionOutputTokens: 100 });
    new RunMeter(usage, true).apply({ sessionInputTokens: 1500, sessionOutputTokens: 130 });
    expect([usage.inputTokens, usage.outputTokens]).toEqual([500, 30]);
  });

  test('the session base is ignored without a session to resume', () => {
    const usage = activityStart({ resumeSessionId: null, sessionCostUsd: 5 });
    new RunMeter(usage, false).apply({ totalCostUsd: 0.1 });
    expect(usage.costUsd).toBeCloseTo(0.1);
  });

  test('a session that cannot be resumed is forgotten: the new one starts at zero, counters stay', () => {
    const usage = activityStart({ resumeSessionId: 's1', sessionCostUsd: 2 });
    new RunMeter(usage, true).apply({ totalCostUsd: 2.5 });
    forgetSession(usage);
    new RunMeter(usage, false).apply({ sessionId: 's2', totalCostUsd: 0.3 });
    expect(usage.costUsd).toBeCloseTo(0.8);
    expect(usage.sessionId).toBe('s2');
    expect(usage.sessionCostUsd).toBeCloseTo(0.3);
  });
});

describe('an activity with Temporal retries', () => {
  test('a retried attempt of a resumed session is not paid twice (session base from the last heartbeat)', () => {
    // The workflow resumes s1, whose cost so far is $1.00.
    const input = { resumeSessionId: 's1', sessionCostUsd: 1.0 };
    const first = activityStart(input);
    new RunMeter(first, true).apply({ totalCostUsd: 1.5 }); // attempt 1 spends $0.50, then the worker dies
    const heartbeat = { ...first };
    // Attempt 2 resumes the session again; Claude's total now includes attempt 1.
    const second = activityStart(input, heartbeat);
    new RunMeter(second, true).apply({ totalCostUsd: 1.75 }); // attempt 2 spends $0.25
    expect(second.costUsd).toBeCloseTo(0.75);
    expect(second.sessionCostUsd).toBeCloseTo(1.75);
  });

  test('a retried attempt goes on in the session the earlier attempt reported', () => {
    const first = activityStart({ resumeSessionId: null });
    new RunMeter(first, false).apply({ sessionId: 'new', totalCostUsd: 0.2 });
    const second = activityStart({ resumeSessionId: null }, { ...first });
    expect(second.sessionId).toBe('new');
    expect(second.costUsd).toBeCloseTo(0.2);
  });
});

describe('a task and a mission', () => {
  test('activities add up; session totals are replaced, attempts summed', () => {
    const task = taskUsage();
    addAgentRun(task, { ...activityStart({}), sessionId: 's', sessionCostUsd: 0.5, costUsd: 0.5, turns: 3 }, 2);
    addAgentRun(task, { ...activityStart({}), sessionId: null, sessionCostUsd: 0.9, costUsd: 0.4, turns: 1 }, 1);
    expect(task).toMatchObject({ sessionId: 's', sessionCostUsd: 0.9, turns: 4, attempts: 3 });
    expect(task.costUsd).toBeCloseTo(0.9);
  });

  test('the base for a resume is the task session totals only when it resumes that session', () => {
    const task = { ...taskUsage(), sessionId: 's', sessionCostUsd: 2, sessionInputTokens: 7 };
    expect(sessionBaseFor(task, 's')).toEqual({ sessionCostUsd: 2, sessionInputTokens: 7, sessionOutputTokens: 0 });
    expect(sessionBaseFor(task, 'other')).toEqual({});
    expect(sessionBaseFor(task, null)).toEqual({});
  });

  test('a carried ledger keeps only its fields (a TaskResult status never rides along)', () => {
    const carried = taskUsage({ costUsd: 1, attempts: 2, status: 'failed' } as never);
    expect(carried).not.toHaveProperty('status');
    expect(carried).toMatchObject({ costUsd: 1, attempts: 2, sessionId: null });
  });

  test('a mission costs the sum of its tasks', () => {
    expect(missionCost([{ costUsd: 0.5 }, { costUsd: 0.25 }])).toBeCloseTo(0.75);
  });
});
