/** What the Web UI shows for a mission and a task workflow (src/mission/describe.ts). */
import { missionDetails, missionSummary, taskDetails, taskSummary } from '../../src/mission/describe';
import { planWaves } from '../../src/mission/plan';
import { bashAgent, mission, task } from '../helpers/missions';

test('a mission: one line for the list, the plan as a Markdown table with dependencies and touches', () => {
  const spec = mission('greet', '/repos/app', [
    task('a', 'true', { title: 'Add a | pipe' }),
    task('b', 'true', { dependsOn: ['a'] }),
    task('c', 'true', { after: ['a'], agent: { ...bashAgent('true'), runtime: 'claude', model: 'claude-sonnet-4-5' } }),
  ]);
  expect(missionSummary(spec)).toBe('mission greet · app · 3 tasks');
  const details = missionDetails(spec, planWaves(spec.tasks));
  expect(details).toContain('on merge conflict `fail`');
  expect(details).toContain('| 0 | `a` | Add a \\| pipe | - | command |');
  expect(details).toContain('| 1 | `b` | Task b | a | command |');
  expect(details).toContain('| 1 | `c` | Task c | a (touches) | claude / claude-sonnet-4-5 |');
});

test('a 200-task plan stays under 20 000 characters, cut with a note', () => {
  const tasks = Array.from({ length: 200 }, (_, i) =>
    task(`task-${i}`, 'true', {
      title: `A task with a rather long title number ${i}, ${'so long that two hundred of them fill more than the limit '.repeat(2)}`,
    }),
  );
  const spec = mission('big', '/repos/big', tasks);
  const details = missionDetails(spec, planWaves(spec.tasks));
  expect(details.length).toBeLessThan(20_200);
  expect(details).toMatch(/… \(cut: \d+ more characters\)$/);
});

test("a task: its title and agent; its prompt's first lines and its gate", () => {
  const t = task('t', 'true', {
    title: 'Write docs',
    prompt: Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n'),
    verify: ['npm test', ['node', 'check.js']],
    maxIterations: 2,
  });
  expect(taskSummary(t)).toBe('Write docs · command');
  const details = taskDetails(t);
  expect(details).toContain('line 8\n…');
  expect(details).not.toContain('line 9');
  expect(details).toContain('**Gate**: `npm test`, `node check.js`, at most 2 agent runs');
});
