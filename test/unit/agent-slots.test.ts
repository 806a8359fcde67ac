/** The agent cap and drain of a worker (src/activities/agent-slots.ts) and the versioning flags. */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { AgentSlots } from '../../src/activities/agent-slots';
import { deploymentFromFlags } from '../../src/client/deployment';
import { CliError } from '../../src/client/errors';

/** The part of an activity Context that `acquire` uses, recording heartbeats. */
function ctx(previous?: unknown) {
  const controller = new AbortController();
  const beats: unknown[] = [];
  return {
    controller,
    beats,
    cancellationSignal: controller.signal,
    heartbeat: (d?: unknown) => void beats.push(d),
    info: { heartbeatDetails: previous } as never,
  };
}

test('beyond the cap an attempt waits, heartbeating the previous details, and starts when a slot frees', async () => {
  const slots = new AgentSlots(1);
  const release = await slots.acquire(ctx());
  const waiting = ctx({ sessionId: 's1' });
  let started = false;
  const second = slots.acquire(waiting).then((r) => {
    started = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 50));
  expect(started).toBe(false);
  expect(slots.load()).toEqual({ running: 1, waiting: 1, capacity: 1 });
  expect(waiting.beats).toEqual([{ sessionId: 's1' }]);
  release();
  release(); // twice: counted once
  (await second)();
  expect(started).toBe(true);
  expect(slots.load()).toEqual({ running: 0, waiting: 0, capacity: 1 });
});

test('a drain fails a waiting attempt with the retryable WorkerShutdown; a cancelled one leaves cancelled', async () => {
  const slots = new AgentSlots(1);
  await slots.acquire(ctx());
  const cancelled = ctx();
  const c = slots.acquire(cancelled);
  cancelled.controller.abort();
  await expect(c).rejects.toBeInstanceOf(CancelledFailure);
  const w = slots.acquire(ctx());
  slots.drain();
  expect(slots.drainSignal.aborted).toBe(true);
  const err = await w.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: 'WorkerShutdown', nonRetryable: false });
});

test('no cap: every attempt starts at once', async () => {
  const slots = new AgentSlots();
  await Promise.all([1, 2, 3].map(() => slots.acquire(ctx())));
  expect(slots.load()).toEqual({ running: 3, waiting: 0, capacity: null });
});

test('versioning flags: opt-in, validated, build id from the bundle or --build-id', () => {
  expect(deploymentFromFlags({})).toBeUndefined();
  expect(deploymentFromFlags({ deployment: 'fleet', buildId: 'v2.1' })).toEqual({ name: 'fleet', buildId: 'v2.1' });
  expect(() => deploymentFromFlags({ setCurrent: true })).toThrow(CliError);
  expect(() => deploymentFromFlags({ deployment: 'fleet', buildId: 'a b' })).toThrow(/--build-id "a b"/);
  expect(() => deploymentFromFlags({ deployment: 'my.fleet', buildId: 'x' })).toThrow(/no dots/);
});
