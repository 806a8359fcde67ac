/**
 * Pure planning: dependency DAG -> waves (topological layers). Deterministic, no I/O, so both the
 * client (`flotilla validate`) and `missionWorkflow` use it and always agree.
 */

export interface PlanNode {
  id: string;
  dependsOn: string[];
  /** Earlier tasks it is serialized after (`touches` overlap): ordered like dependencies in the plan. */
  after?: string[];
}

/** What a node waits for in the plan: its dependencies and the tasks it is serialized after. */
const waitsFor = (n: PlanNode | undefined): string[] => [...(n?.dependsOn ?? []), ...(n?.after ?? [])];

/** Thrown when the dependencies are not a DAG; `cycle` lists the ids, first id repeated last. */
export class CycleError extends Error {
  constructor(public readonly cycle: string[]) {
    super(`dependency cycle: ${cycle.join(' -> ')}`);
    this.name = 'CycleError';
  }
}

/**
 * Depth-first search over what each node waits for, with an explicit stack (no recursion: a
 * 10,000-task chain would overflow the call stack). O(nodes + edges).
 * @returns the nodes in post-order (every node after all it waits for), or the first cycle met
 */
function walk(nodes: PlanNode[]): { order: string[] } | { cycle: string[] } {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const state = new Map<string, 'visiting' | 'done'>();
  const order: string[] = [];
  for (const root of nodes) {
    if (state.has(root.id)) continue;
    // The path from root: each node with what it waits for and the next one to look at.
    const path: Array<{ id: string; deps: string[]; next: number }> = [];
    const enter = (id: string): void => {
      state.set(id, 'visiting');
      path.push({ id, deps: waitsFor(byId.get(id)), next: 0 });
    };
    enter(root.id);
    while (path.length > 0) {
      const top = path[path.length - 1];
      if (top.next === top.deps.length) {
        path.pop();
        state.set(top.id, 'done');
        order.push(top.id);
        continue;
      }
      const dep = top.deps[top.next++];
      if (!byId.has(dep)) continue;
      if (state.get(dep) === 'visiting') {
        const from = path.findIndex((p) => p.id === dep);
        return { cycle: [...path.slice(from).map((p) => p.id), dep] };
      }
      if (!state.has(dep)) enter(dep);
    }
  }
  return { order };
}

/**
 * Finds one dependency cycle, or `undefined`. Unknown dependency ids are ignored here (the schema
 * reports them). The cycle is returned in dependency order, e.g. `['a', 'b', 'a']` means a
 * depends on b and b depends on a. Iterative and linear in nodes + edges.
 */
export function findCycle(nodes: PlanNode[]): string[] | undefined {
  const r = walk(nodes);
  return 'cycle' in r ? r.cycle : undefined;
}

/**
 * Plans waves: wave k holds the tasks whose dependencies all sit in waves < k. Within a wave,
 * tasks keep their order in the mission file, which is also the merge order. Iterative and
 * linear in nodes + edges.
 *
 * @returns task ids per wave, e.g. `[['a', 'b'], ['c']]`
 * @throws CycleError when the dependencies contain a cycle
 */
export function planWaves(nodes: PlanNode[]): string[][] {
  const r = walk(nodes);
  if ('cycle' in r) throw new CycleError(r.cycle);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const waveOf = new Map<string, number>();
  // Post-order: every dependency's wave is known before its dependents'.
  for (const id of r.order) {
    let w = 0;
    for (const d of waitsFor(byId.get(id))) {
      const dw = waveOf.get(d);
      if (dw !== undefined && dw + 1 > w) w = dw + 1;
    }
    waveOf.set(id, w);
  }
  const waves: string[][] = [];
  for (const n of nodes) {
    const w = waveOf.get(n.id)!;
    while (waves.length <= w) waves.push([]);
    waves[w].push(n.id);
  }
  return waves;
}

/**
 * Every task that depends on `id` (`dependsOn`), directly or transitively, in mission-file order.
 * Linear in nodes + edges (a breadth-first walk over who depends on whom).
 */
export function dependentsOf(nodes: PlanNode[], id: string): string[] {
  const dependents = new Map<string, string[]>();
  for (const n of nodes)
    for (const d of n.dependsOn) {
      const list = dependents.get(d);
      if (list) list.push(n.id);
      else dependents.set(d, [n.id]);
    }
  const out = new Set<string>();
  const todo = [id];
  for (let i = 0; i < todo.length; i++)
    for (const x of dependents.get(todo[i]) ?? [])
      if (!out.has(x)) {
        out.add(x);
        todo.push(x);
      }
  return nodes.filter((n) => out.has(n.id)).map((n) => n.id);
}
