/** The mission's and the task's current details, and the commands that move a mission on (src/mission/current-details.ts). */
import { planWaves } from '../../src/mission/plan';
import { deriveProgress, initialState, MissionState } from '../../src/mission/progress';
import {
  MAX_CURRENT_DETAILS_CHARS,
  missionCurrentDetails,
  nextSteps,
  taskCurrentDetails,
} from '../../src/mission/current-details';
import { agentRun, commands, line, rateLimitWait } from '../../src/workflows/summaries';
import { mission, task } from '../helpers/missions';

const T0 = '2026-12-01T09:30:00.000Z';

function state(n: number, edit?: (s: MissionState) => void): MissionState {
  const spec = mission(
    'greet',
    '/repos/app',
    Array.from({ length: n }, (_, i) => task(`t${i}`, 'true')),
  );
  const s = initialState(spec, planWaves(spec.tasks), T0);
  s.phase = 'running';
  edit?.(s);
  return s;
}

test('a blocked mission names the commands from its reason, then resume', () => {
  const p = deriveProgress(
    'greet',
    state(2, (s) => {
      s.blocked = true;
      s.reason =
        'task t1: conflict in a.txt; make it merge, then `flotilla resume greet` (or `flotilla skip greet t1`)';
    }),
  );
  expect(nextSteps(p)).toEqual(['flotilla resume greet', 'flotilla skip greet t1']);
  const details = missionCurrentDetails(p);
  expect(details).toContain('> **Blocked**: task t1: conflict in a.txt');
  expect(details).toContain('> **Next**: `flotilla resume greet` · `flotilla skip greet t1`');
});

test('a failed mission suggests retrying its failed tasks; a completed one, landing; a running one, nothing', () => {
  const failed = deriveProgress(
    'greet',
    state(3, (s) => {
      s.phase = 'failed';
      s.tasks[0].status = 'failed';
      s.tasks[0].error = 'agent exited 1\nwith a second line';
      s.tasks[2].status = 'skipped';
    }),
  );
  expect(nextSteps(failed)).toEqual(['flotilla retry greet t0']);
  expect(missionCurrentDetails(failed)).toContain('| ✗ failed |');
  expect(missionCurrentDetails(failed)).toContain('agent exited 1 |');
  expect(missionCurrentDetails(failed)).not.toContain('second line');
  expect(
    nextSteps(
      deriveProgress(
        'greet',
        state(1, (s) => (s.phase = 'completed')),
      ),
    ),
  ).toEqual(['flotilla land greet']);
  expect(nextSteps(deriveProgress('greet', state(1)))).toEqual([]);
  expect(
    nextSteps(
      deriveProgress(
        'greet',
        state(1, (s) => (s.paused = true)),
      ),
    ),
  ).toEqual(['flotilla resume greet']);
});

test('the task table: status, attempts, branch and head, time, cost, tokens, error with pipes escaped', () => {
  const p = deriveProgress(
    'greet',
    state(2, (s) => {
      Object.assign(s.tasks[0], {
        status: 'merged',
        attempts: 2,
        iterations: 2,
        headSha: '1a2b3c4d5e6f',
        startedAt: T0,
        endedAt: '2026-12-01T09:31:05.000Z',
        costUsd: 0.01234,
        inputTokens: 12_345,
        outputTokens: 678,
      });
      Object.assign(s.tasks[1], { status: 'running', startedAt: '2026-12-01T09:32:00.000Z', error: 'a | b' });
    }),
  );
  const details = missionCurrentDetails(p);
  expect(details).toMatch(
    /^\*\*running\*\* · 1 of 2 merged \(50%\) · 1 running\n\nCost \$0\.0123 · tokens 12k in \/ 678 out · started 09:30:00 UTC\n/,
  );
  expect(details).toContain('task branches `flotilla/greet/tasks/<task>`');
  expect(details).toContain('| `t0` | ✔ merged | 2 (2 iterations) | 1m 5s | $0.0123 | 12k/678 | `1a2b3c4d` |  |');
  expect(details).toContain('| since 09:32:00 |');
  expect(details).toContain('a \\| b |');
});

test("a 200-task mission's details stay under the limit, keep the failures and say what they left out", () => {
  const p = deriveProgress(
    'big',
    state(200, (s) => {
      s.tasks.forEach((t, i) => {
        t.status = i === 150 ? 'failed' : 'merged';
        t.error = `${'a long error that fills the table '.repeat(10)} ${i}`;
        t.headSha = 'f'.repeat(40);
      });
    }),
  );
  const details = missionCurrentDetails(p);
  expect(details.length).toBeLessThanOrEqual(MAX_CURRENT_DETAILS_CHARS);
  expect(details).toContain('| `t150` | ✗ failed |');
  expect(details).toMatch(
    /… \d+ more tasks not shown \(\d+ merged\), to stay within Temporal's size limits: `flotilla status big`/,
  );
});

test("a task's details: step, iteration, session, usage, last event, gate and what is retried", () => {
  const details = taskCurrentDetails({
    step: 'waiting out a rate limit',
    since: '2026-12-01T14:00:00.000Z',
    iteration: 2,
    maxIterations: 3,
    runs: 3,
    attempts: 4,
    sessionId: 'sess-1234',
    turns: 12,
    costUsd: 0.5,
    inputTokens: 1500,
    outputTokens: 300,
    lastEventAt: '2026-12-01T13:59:58.000Z',
    gate: '`npm test` failed (exit 1) at iteration 1',
    retrying: 'rate limited; resuming at 14:05:00 UTC',
    ended: null,
  });
  expect(details).toContain(
    '**waiting out a rate limit** since 14:00:00 UTC · iteration 2 of 3 · agent runs 3 (4 attempts with retries)',
  );
  expect(details).toContain('- **Session**: `sess-1234`');
  expect(details).toContain('- **Cost** $0.5000 · **tokens** 1.5k in / 300 out · **turns** 12');
  expect(details).toContain('- **Last agent event**: 13:59:58 UTC');
  expect(details).toContain('- **Gate**: `npm test` failed (exit 1) at iteration 1');
  expect(details).toContain('- **Retrying**: rate limited; resuming at 14:05:00 UTC');
});

test('activity and timer summaries are one short line', () => {
  expect(agentRun('claude', 'add-greeting', 2, 3, 'abcdef0123456789')).toBe(
    'claude · add-greeting · iteration 2, run 3 (resumes session abcdef01…)',
  );
  expect(rateLimitWait('t', Date.parse('2026-12-01T14:05:00Z'))).toBe('rate-limit wait until 14:05:00 UTC · t');
  expect(commands(['npm test', ['node', 'x.js'], 'a', 'b'])).toBe('`npm test`, `node x.js`, `a` and 1 more');
  expect(line(`x\n  y${'z'.repeat(300)}`)).toHaveLength(200);
  expect(line('x\n  y')).toBe('x y');
});
