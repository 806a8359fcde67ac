/**
 * The mission's rules (src/workflows/mission-state.ts), driven directly: retry, skip, pause,
 * resume, budget, block, stop, cancel, finish, reopen. The workflow only performs their effects.
 */
import { Mission, TaskOutcome } from '../../src/workflows/mission-state';
import { taskUsage } from '../../src/mission/usage';
import { endingRejection, skipRejection } from '../../src/mission/control';
import type { MissionSpec } from '../../src/mission/types';
import { mission, task } from '../helpers/missions';

const T0 = '2026-12-01T00:00:00.000Z';

/** a -> b -> c, and d on its own. */
function spec(opts: Partial<MissionSpec> = {}): MissionSpec {
  return mission(
    'm',
    '/repo',
    [
      task('a', 'true'),
      task('b', 'true', { dependsOn: ['a'] }),
      task('c', 'true', { dependsOn: ['b'] }),
      task('d', 'true'),
    ],
    opts,
  );
}

function result(status: 'succeeded' | 'failed', cost = 0, extra = {}): TaskOutcome {
  return {
    kind: 'result',
    result: {
      ...taskUsage({ costUsd: cost, attempts: 1, ...extra }),
      status,
      headSha: 'h',
      diffstat: null,
      iterations: 1,
      error: status === 'failed' ? 'boom' : null,
    },
  };
}

/** Runs `id` to the given outcome, as the workflow would. */
function run(m: Mission, id: string, outcome: TaskOutcome): void {
  m.taskStarting(id, T0);
  m.taskEnded(id, outcome, T0);
  if (m.task(id).status === 'failed') m.taskFailed(id);
}

test('a failed task skips its dependents, transitively; skip-dependents does not stop the mission', () => {
  const m = new Mission(spec(), undefined, 'run1', T0);
  run(m, 'a', result('failed'));
  expect(['b', 'c'].map((id) => m.task(id).status)).toEqual(['skipped', 'skipped']);
  expect(m.halt.stop).toBeNull();
});

test('stop-wave and stop-all stop the mission, and only stop-all cancels the running tasks', () => {
  for (const policy of ['stop-wave', 'stop-all'] as const) {
    const m = new Mission(
      spec({ policy: { onTaskFailure: policy, onMergeConflict: 'pause', onVerifyFailure: 'pause' } }),
      undefined,
      'r',
      T0,
    );
    m.taskStarting('a', T0);
    m.taskEnded('a', result('failed'), T0);
    expect(m.taskFailed('a')).toBe(policy === 'stop-all');
    expect(m.halt.stop).toEqual({ reason: `task a failed (onTaskFailure: ${policy})`, byTask: 'a' });
    expect(m.halt.halted).toBe(true);
    // Retrying the task that stopped the mission lifts the stop; another task's retry is refused.
    expect(m.retryRejection('a')).toBeNull();
    m.retry('a');
    expect(m.halt.stop).toBeNull();
  }
});

test('retry makes the task pending with its ledger, reopens only the dependents Flotilla skipped', () => {
  const m = new Mission(spec(), undefined, 'r', T0);
  expect(skipRejection('m', m.state, 'c', m)).toBeNull();
  m.skip('c', T0); // the user's skip stays
  m.taskStarting('a', T0);
  m.taskUpdate(
    'a',
    { ...taskUsage({ costUsd: 0.5, attempts: 1 }), sessionId: 's', sessionCostUsd: 0.5 },
    null,
    undefined,
  );
  m.taskEnded('a', result('failed', 0.5, { sessionId: 's', sessionCostUsd: 0.5 }), T0);
  m.taskFailed('a');
  expect(m.retry('a')).toEqual(['b']);
  expect(m.task('c').status).toBe('skipped');
  expect(m.retries.get('a')).toEqual({
    usage: expect.objectContaining({ sessionId: 's', sessionCostUsd: 0.5, costUsd: 0.5 }),
    error: 'boom',
  });
  expect(m.taskStarting('a', T0)).toMatchObject({ error: 'boom' });
  expect(m.retries.has('a')).toBe(false);
});

test('retry is refused for a running or merged task, and while another task stopped the mission', () => {
  const m = new Mission(
    spec({ policy: { onTaskFailure: 'stop-wave', onMergeConflict: 'pause', onVerifyFailure: 'pause' } }),
    undefined,
    'r',
    T0,
  );
  m.taskStarting('a', T0);
  expect(m.retryRejection('a')).toMatch(/only a failed, skipped or cancelled task/);
  m.taskEnded('a', result('failed'), T0);
  m.taskFailed('a');
  run(m, 'd', result('failed'));
  expect(m.retryRejection('d')).toMatch(/is stopping \(task a failed/);
  expect(m.retryRejection('ghost')).toMatch(/has no task "ghost"/);
});

test('a block is lifted only by resume or a skip of the very task whose conflict it is', () => {
  const m = new Mission(
    spec({ policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'pause' } }),
    undefined,
    'r',
    T0,
  );
  // d ended in conflict under an earlier `fail`-like stop; the mission now waits on a failed verify.
  m.task('d').status = 'conflict';
  m.halt.blockOn({ kind: 'verify', reason: 'mission verify failed' });
  m.skip('d', T0);
  expect(m.halt.block).not.toBeNull();
  m.resume();
  expect(m.halt.block).toBeNull();
  expect(m.halt.unblocked()).toBe(true);

  run(m, 'a', result('succeeded'));
  const block = m.conflict('a', 'conflict in x.txt');
  expect(block).toMatchObject({ kind: 'conflict', taskId: 'a' });
  m.halt.blockOn(block!);
  expect(m.state.blocked).toBe(true);
  m.task('b').status = 'conflict';
  m.skip('b', T0);
  expect(m.halt.block).not.toBeNull();
  m.skip('a', T0);
  expect(m.halt.block).toBeNull();
});

test('a conflict under onMergeConflict: fail stops the mission and skips the dependents', () => {
  const m = new Mission(spec(), undefined, 'r', T0);
  run(m, 'a', result('succeeded'));
  expect(m.conflict('a', 'conflict in x')).toBeNull();
  expect(m.halt.stop?.reason).toBe('task a: conflict in x (onMergeConflict: fail)');
  expect(m.task('b').status).toBe('skipped');
});

test('the budget pauses the mission once, with the reason; resume goes on', () => {
  const m = new Mission(spec({ budgetUsd: 1 }), undefined, 'r', T0);
  m.taskStarting('a', T0);
  m.taskUpdate('a', taskUsage({ costUsd: 0.6 }), null, undefined);
  expect(m.state.paused).toBe(false);
  m.taskUpdate('a', taskUsage({ costUsd: 1.2 }), null, undefined);
  expect(m.state.paused).toBe(true);
  expect(m.state.reason).toMatch(/budget of \$1 reached \(\$1\.20 spent\)/);
  m.resume();
  m.taskUpdate('a', taskUsage({ costUsd: 3 }), null, undefined);
  expect(m.state.paused).toBe(false);
});

test('pause --now holds the running tasks; resume releases them; a held task shows pending', () => {
  const m = new Mission(spec(), undefined, 'r', T0);
  m.taskStarting('a', T0);
  m.taskStarting('d', T0);
  expect(m.pause(undefined, true)).toEqual(['a', 'd']);
  expect(m.state.reason).toBe('paused by user (--now)');
  m.taskUpdate('a', taskUsage(), 'paused', true);
  expect(m.task('a').status).toBe('pending');
  expect(m.resume()).toEqual(['a', 'd']);
  expect(m.state.paused).toBe(false);
});

test('skip of a running task only marks it; its end records the skip whatever it returned', () => {
  const m = new Mission(spec(), undefined, 'r', T0);
  m.taskStarting('a', T0);
  m.childStarted.add('a');
  expect(m.skip('a', T0)).toEqual({ was: 'running', skipped: ['b', 'c'], stopTask: true });
  expect(skipRejection('m', m.state, 'a', m)).toMatch(/being skipped/);
  m.taskEnded('a', { kind: 'cancelled' }, T0);
  expect(m.task('a')).toMatchObject({ status: 'skipped', error: expect.stringContaining('skipped by user') });
});

test('cancel is recorded once; running tasks end cancelled with its reason; the mission ends cancelled', () => {
  const m = new Mission(spec(), undefined, 'r', T0);
  m.taskStarting('a', T0);
  expect(m.halt.requestCancel('cancelled by user')).toBe(true);
  expect(m.halt.requestCancel('again')).toBe(false);
  expect(endingRejection('m', m.halt.cancel !== null, m.state.endedAt, 'skip')).toMatch(/being cancelled/);
  m.taskEnded('a', { kind: 'cancelled' }, T0);
  expect(m.finish(T0)).toBe('cancelled');
  expect(m.task('a')).toMatchObject({ status: 'cancelled', error: 'cancelled by user' });
  expect(m.task('d')).toMatchObject({ status: 'skipped', error: 'skipped: mission cancelled' });
});

test('finish: completed only when every task merged and nothing stopped the mission', () => {
  const m = new Mission(spec(), undefined, 'r', T0);
  for (const id of ['a', 'b', 'c', 'd']) {
    run(m, id, result('succeeded'));
    m.merged(id, `sha-${id}`);
  }
  expect(m.finish(T0)).toBe('completed');
  expect(m.state.integrationSha).toBe('sha-d');
  const failed = new Mission(spec(), undefined, 'r', T0);
  run(failed, 'a', result('failed'));
  expect(failed.finish(T0)).toBe('failed');
  expect(failed.state.reason).toMatch(/^not every task merged: a failed, b skipped/);
});

test('a reopened mission carries the ledger: the retried task resumes on its session totals', () => {
  const m = new Mission(spec(), undefined, 'first-run', T0);
  m.taskStarting('d', T0);
  m.taskEnded('d', result('failed', 2, { sessionId: 'sess', sessionCostUsd: 2 }), T0);
  m.finish(T0);
  const carried = JSON.parse(JSON.stringify(m.carry())); // as it travels in a payload
  const reopened = new Mission(spec(), carried, 'second-run', T0);
  reopened.reopen('d');
  expect(reopened.ownerRunId).toBe('first-run');
  expect(reopened.state.phase).toBe('planning');
  expect(reopened.state.endedAt).toBeNull();
  expect(reopened.retries.get('d')?.usage).toMatchObject({ sessionId: 'sess', sessionCostUsd: 2, costUsd: 2 });
  // the dependents Flotilla skipped at the end run again
  expect(['a', 'b', 'c'].map((id) => reopened.task(id).status)).toEqual(['pending', 'pending', 'pending']);
});
