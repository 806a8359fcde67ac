/**
 * Lookups by id in the lists a mission keeps (`spec.tasks`, `state.tasks`), in O(1) instead of a
 * scan: a mission of a few thousand tasks asks for every task's dependencies on every scheduling
 * pass, and a scan there makes the pass quadratic. Pure and deterministic (imported by workflow
 * code): the index lives in a WeakMap keyed by the list itself and is rebuilt when the list changed
 * under it (an element added, removed or replaced), which a lookup notices.
 */

const indexes = new WeakMap<readonly { id: string }[], Map<string, number>>();

/**
 * The element of `list` whose `id` is `id`, or undefined when none is. Ids are unique in the
 * lists this is for; with duplicates, the first one is found (as `Array.find` would).
 */
export function byId<T extends { id: string }>(list: readonly T[], id: string): T | undefined {
  let index = indexes.get(list);
  let i = index?.get(id);
  if (i === undefined || list[i]?.id !== id) {
    index = new Map<string, number>();
    for (let k = list.length - 1; k >= 0; k--) index.set(list[k].id, k);
    indexes.set(list, index);
    i = index.get(id);
  }
  return i === undefined ? undefined : list[i];
}
