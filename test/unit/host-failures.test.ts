/**
 * The seam between the host git library and Temporal (src/git/failure.ts, src/git/log.ts,
 * src/activities/host-failures.ts): a HostFailure leaves an activity as the ApplicationFailure of
 * the same type, retry policy, details and cause; host warnings reach the activity's logger.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { activityFailure, adapted } from '../../src/activities/host-failures';
import { HostFailure } from '../../src/git/failure';
import { hostLog } from '../../src/git/log';
import { ErrorType } from '../../src/mission/error-types';

test('a HostFailure becomes the ApplicationFailure of the same type, policy, details and cause', async () => {
  const cause = HostFailure.nonRetryable('inner', ErrorType.CandidateMoved);
  const acts = adapted({
    async boom(n: number): Promise<number> {
      throw new HostFailure({ message: `boom ${n}`, type: ErrorType.RepoLockLost, details: [{ n }], cause });
    },
    async fine(n: number): Promise<number> {
      return n + 1;
    },
  });
  expect(await acts.fine(1)).toBe(2);
  const err = (await acts.boom(7).catch((e: unknown) => e)) as ApplicationFailure;
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ message: 'boom 7', type: 'RepoLockLost', nonRetryable: false, details: [{ n: 7 }] });
  expect(err.cause).toBeInstanceOf(ApplicationFailure);
  expect(err.cause).toMatchObject({ message: 'inner', type: 'CandidateMoved', nonRetryable: true });
  // Anything else passes through as it is.
  const plain = new Error('plain');
  expect(activityFailure(plain)).toBe(plain);
});

test("host warnings go to the activity's logger in an activity, and nowhere outside one", async () => {
  const logged: Array<{ level: string; message: string; meta?: Record<string, unknown> }> = [];
  const logger = {
    log: (level: string, message: string, meta?: Record<string, unknown>) => logged.push({ level, message, meta }),
    trace: () => undefined,
    debug: () => undefined,
    info: (message: string, meta?: Record<string, unknown>) => logged.push({ level: 'INFO', message, meta }),
    warn: (message: string, meta?: Record<string, unknown>) => logged.push({ level: 'WARN', message, meta }),
    error: () => undefined,
  };
  expect(() => hostLog.warn('outside any activity')).not.toThrow();
  await new MockActivityEnvironment({}, { logger }).run(async () =>
    hostLog.warn('removed a stale lock', { lock: 'x' }),
  );
  expect(logged).toEqual([
    expect.objectContaining({
      level: 'WARN',
      message: 'removed a stale lock',
      meta: expect.objectContaining({ lock: 'x' }),
    }),
  ]);
});
