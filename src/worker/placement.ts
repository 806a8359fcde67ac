/**
 * The placement queue's slot supplier: how a worker offers itself for tasks of missions with a
 * shared origin. Temporal hands an activity task to a worker that polls; a worker polls only
 * after its slot supplier issued a permit (a custom `SlotSupplier` of the SDK's worker tuner,
 * see `CustomSlotSupplier` in @temporalio/worker). This one issues at most one permit at a time,
 * none while the worker is full (running plus reserved agents at its `--agents` cap) or draining,
 * and issues it later the busier the worker is: an idle worker is already polling when the next
 * `claimTaskHost` arrives, a half-full one joins after a delay, so tasks go to the least busy
 * host first. The claim itself checks the cap again (a permit issued before the worker filled up).
 */
import type { CustomSlotSupplier, SlotPermit, SlotReserveContext } from '@temporalio/worker';
import type { ActivitySlotInfo } from '@temporalio/worker';
import type { AgentSlots } from '../activities/agent-slots';

/** How long a worker at its cap (or a busy one without a cap) waits before offering itself, ms. */
const MAX_DELAY_MS = 1500;
/** How often a full worker looks again, ms. */
const FULL_RECHECK_MS = 250;
/** Without `--agents`, this many running agents count as "full" for the delay (never for refusing). */
const UNCAPPED_SCALE = 8;

/**
 * Resolves after `ms`; rejects with `signal.reason` once the SDK aborts the reservation. The SDK
 * takes exactly that rejection as the end of a reservation it no longer needs (a worker that
 * stops) and logs anything else as an error (`CustomSlotSupplier.reserveSlot` in
 * @temporalio/worker: "must reject the promise with AbortError"; its `NativeifiedCustomSlotSupplier`
 * logs every rejection but `abortSignal.reason`).
 */
function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', abort);
    };
    const abort = (): void => {
      done();
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal.addEventListener('abort', abort);
  });
}

/**
 * The delay before a worker with this load offers itself, ms: 0 when idle, growing linearly with
 * its busy share up to {@link MAX_DELAY_MS}.
 */
export function offerDelayMs(load: { running: number; reserved: number; capacity: number | null }): number {
  const busy = load.running + load.reserved;
  const share = load.capacity ? busy / load.capacity : Math.min(1, busy / UNCAPPED_SCALE);
  return Math.round(Math.min(1, share) * MAX_DELAY_MS);
}

/** The placement queue's activity slot supplier for a worker whose agents are `slots`. */
export function placementSlotSupplier(slots: AgentSlots): CustomSlotSupplier<ActivitySlotInfo> {
  let issued = 0;
  return {
    type: 'custom',
    async reserveSlot(_ctx: SlotReserveContext, signal: AbortSignal): Promise<SlotPermit> {
      for (;;) {
        // A stopping worker aborts the reservation: end it the way the SDK expects (see `wait`).
        signal.throwIfAborted();
        if (issued === 0 && !slots.full) {
          const delay = offerDelayMs({ ...slots.load(), capacity: slots.placementCapacity ?? null });
          if (delay > 0) await wait(delay, signal);
          // Still free after the delay (another poller of this worker may have taken the permit).
          if (issued === 0 && !slots.full) break;
        }
        await wait(FULL_RECHECK_MS, signal);
      }
      issued++;
      return {};
    },
    // Eager dispatch never happens here (the task workflows run on another queue): no permit.
    tryReserveSlot: () => null,
    markSlotUsed: () => undefined,
    releaseSlot: () => {
      issued = Math.max(0, issued - 1);
    },
  };
}
