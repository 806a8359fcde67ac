/** The agent cap, reservations and drain of a worker (src/activities/agent-slots.ts), its placement slot supplier and the versioning flags. */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { AgentSlots } from '../../src/activities/agent-slots';
import { offerDelayMs, placementSlotSupplier } from '../../src/worker/placement';
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
  expect(slots.load()).toEqual({ running: 1, waiting: 1, reserved: 0, capacity: 1 });
  expect(waiting.beats).toEqual([{ sessionId: 's1' }]);
  release();
  release(); // twice: counted once
  (await second)();
  expect(started).toBe(true);
  expect(slots.load()).toEqual({ running: 0, waiting: 0, reserved: 0, capacity: 1 });
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
  expect(slots.load()).toEqual({ running: 3, waiting: 0, reserved: 0, capacity: null });
});

test('versioning flags: opt-in, validated, build id from the bundle or --build-id', () => {
  expect(deploymentFromFlags({})).toBeUndefined();
  expect(deploymentFromFlags({ deployment: 'fleet', buildId: 'v2.1' })).toEqual({ name: 'fleet', buildId: 'v2.1' });
  expect(() => deploymentFromFlags({ setCurrent: true })).toThrow(CliError);
  expect(() => deploymentFromFlags({ deployment: 'fleet', buildId: 'a b' })).toThrow(/--build-id "a b"/);
  expect(() => deploymentFromFlags({ deployment: 'my.fleet', buildId: 'x' })).toThrow(/no dots/);
});

test('placement: reservations count against the cap until the task’s agent starts here; a drain refuses', async () => {
  const slots = new AgentSlots(2);
  expect(slots.reserve('mission-m/task-a')).toBe(true);
  expect(slots.reserve('mission-m/task-a')).toBe(true); // the same task claiming again: still one
  expect(slots.reserve('mission-m/task-b')).toBe(true);
  expect(slots.full).toBe(true);
  expect(slots.reserve('mission-m/task-c')).toBe(false);
  expect(slots.load()).toMatchObject({ running: 0, reserved: 2 });
  // a's first attempt takes its reservation over: still full (one running, one reserved).
  const running = ctx();
  (running.info as { workflowExecution?: unknown }).workflowExecution = { workflowId: 'mission-m/task-a' };
  const release = await slots.acquire(running);
  expect(slots.load()).toMatchObject({ running: 1, reserved: 1 });
  expect(slots.full).toBe(true);
  slots.unreserve('mission-m/task-b');
  expect(slots.full).toBe(false);
  release();
  slots.drain();
  expect(slots.full).toBe(true);
  expect(slots.reserve('mission-m/task-d')).toBe(false);
});

test('placement: an idle worker offers itself at once, a busier one later, a full one not at all', async () => {
  expect(offerDelayMs({ running: 0, reserved: 0, capacity: 4 })).toBe(0);
  expect(offerDelayMs({ running: 1, reserved: 1, capacity: 4 })).toBe(750);
  expect(offerDelayMs({ running: 3, reserved: 0, capacity: 4 })).toBeGreaterThan(
    offerDelayMs({ running: 1, reserved: 0, capacity: 4 }),
  );
  expect(offerDelayMs({ running: 2, reserved: 0, capacity: null })).toBe(375);

  const slots = new AgentSlots(1);
  const supplier = placementSlotSupplier(slots);
  const abort = new AbortController();
  const first = await supplier.reserveSlot({} as never, abort.signal);
  expect(first).toEqual({});
  // One permit at a time: the second waits until the first is released.
  let second = false;
  const next = supplier.reserveSlot({} as never, abort.signal).then(() => (second = true));
  await new Promise((r) => setTimeout(r, 400));
  expect(second).toBe(false);
  supplier.releaseSlot({} as never);
  await next;
  supplier.releaseSlot({} as never);
  // A full worker does not poll: its reservation waits, and gives up when told to, rejecting with
  // the signal's own reason (an AbortError): the SDK logs any other rejection as an error.
  slots.reserve('mission-m/task-x');
  const waiting = supplier.reserveSlot({} as never, abort.signal);
  await new Promise((r) => setTimeout(r, 400));
  abort.abort();
  await expect(waiting).rejects.toBe(abort.signal.reason);
  expect(abort.signal.reason).toMatchObject({ name: 'AbortError' });
});
