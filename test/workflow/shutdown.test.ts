/**
 * A worker that shuts down (Ctrl-C on `flotilla run`, a drained `flotilla worker`) is no task's
 * failure: an activity it was running fails with the SDK's retryable `WorkerShutdown` (sdk-core
 * fails what does not finish within the shutdown grace time that way), and the task goes on with
 * the next worker however often that happens, up to a bound. Run by the real workflows with fake
 * activities that fail as the SDK makes them fail.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Activities } from '../../src/activities';
import { ErrorType } from '../../src/mission/error-types';
import { fakeActivities, FakeActivities } from '../helpers/fake-activities';
import { fakeMission, fakeTask, taskOf, workflowSuite } from '../helpers/workflow-suite';

const suite = workflowSuite();

/** What sdk-core fails an activity with when its worker shuts down before it finished. */
const shutdownFailure = (): ApplicationFailure =>
  ApplicationFailure.create({
    type: ErrorType.WorkerShutdown,
    message: 'Worker is shutting down and this activity did not complete in time',
  });

type Name = 'prepareWorktree' | 'checkpoint' | 'runChecks' | 'runAgent';

/** Fakes whose `name` fails `times` times with the shutdown failure, then does what it does by default. */
function shutDownTimes(name: Name, times: number): FakeActivities {
  const fakes = fakeActivities();
  const real = fakes[name].getMockImplementation() as unknown as (input: unknown) => Promise<unknown>;
  let calls = 0;
  const flaky = async (input: unknown): Promise<unknown> => {
    if (++calls <= times) throw shutdownFailure();
    return real(input);
  };
  (fakes[name] as unknown as jest.Mock).mockImplementation(flaky as Activities[Name]);
  return fakes;
}

// More shutdowns than any of these activities has attempts (prepareWorktree and checkpoint 5,
// the gate 3, the agent `retries + 1` = 1): none of them may count as one.
test.each<[Name]>([['prepareWorktree'], ['checkpoint'], ['runChecks'], ['runAgent']])(
  'six worker shutdowns during %s do not fail the task',
  async (name) => {
    const fakes = shutDownTimes(name, 6);
    const spec = fakeMission(`shutdown-${name.toLowerCase()}`, [fakeTask('t', [], { verify: [['npm', 'test']] })]);
    const m = await suite.start(spec, fakes);
    const result = await m.result(60_000);
    expect(taskOf(result, 't')).toMatchObject({ status: 'merged', error: null });
    expect(result.phase).toBe('completed');
    expect(fakes[name]).toHaveBeenCalledTimes(7);
  },
  90_000,
);

test('a task whose worker keeps shutting down fails after 20 shutdowns, saying so', async () => {
  const fakes = shutDownTimes('prepareWorktree', Infinity);
  const result = await suite.run(fakeMission('shutdown-forever', [fakeTask('t')]), fakes);
  expect(taskOf(result, 't').status).toBe('failed');
  expect(taskOf(result, 't').error).toContain('Worker is shutting down');
  expect(fakes.prepareWorktree).toHaveBeenCalledTimes(21);
});
