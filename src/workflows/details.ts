/**
 * How a workflow keeps what the Web UI shows about it current: its current details (Markdown,
 * `setCurrentDetails`, returned by the `__temporal_workflow_metadata` query) and its search
 * attributes (`upsertSearchAttributes`, a command in history).
 */
import { CancellationScope, condition, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';

/**
 * Keeps the current details equal to `render()` after every activation. A condition that never
 * holds is the SDK's hook that runs after each activation's jobs; current details are workflow
 * memory, not history, so rendering adds no command and cannot break replay. `render` must be
 * deterministic and cheap (it runs a few times per activation). Non-cancellable: a cancelled
 * workflow still says how its cancellation goes (and a cancelled wait would fail the workflow).
 */
export function keepCurrentDetails(render: () => string): void {
  let last: string | null = null;
  void CancellationScope.nonCancellable(() =>
    condition(() => {
      // A predicate that throws fails every workflow task: a bug in rendering must only leave
      // the details as they were.
      try {
        const details = render();
        if (details !== last) {
          last = details;
          setCurrentDetails(details);
        }
      } catch {
        // Keep the last details.
      }
      return false;
    }),
  );
}

/** What {@link keepSearchAttributes} gives back. */
export interface KeptAttributes {
  /**
   * Upserts now if the values changed. Call it before the workflow returns, throws or continues as
   * new: the watcher runs after the activation's code, and nothing follows a workflow's last command.
   */
  flush(): void;
}

/**
 * Upserts `values()` whenever it changes, starting from what it is now (set at start, or carried
 * by continue-as-new). Each upsert is a command in history (docs/architecture.md, "Versioning"):
 * callers round values (cost to cents) so history grows by steps, not by every token.
 */
export function keepSearchAttributes(values: () => SearchAttributeUpdatePair[]): KeptAttributes {
  const keyOf = (pairs: SearchAttributeUpdatePair[]): string => JSON.stringify(pairs.map((p) => [p.key.name, p.value]));
  let last = keyOf(values());
  const flush = (): void => {
    const next = values();
    const key = keyOf(next);
    if (key === last) return;
    last = key;
    upsertSearchAttributes(next);
  };
  // Non-cancellable, as above: a cancelled mission's progress and cost still reach the list.
  void CancellationScope.nonCancellable(async () => {
    for (;;) {
      await condition(() => {
        // As above: a throwing predicate would fail every workflow task.
        try {
          return keyOf(values()) !== last;
        } catch {
          return false;
        }
      });
      flush();
    }
  });
  return { flush };
}
