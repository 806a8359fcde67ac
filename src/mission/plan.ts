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
 * Finds one dependency cycle, or `undefined`. Unknown dependency ids are ignored here (the schema
 * reports them). The cycle is returned in dependency order, e.g. `['a', 'b', 'a']` means a
 * depends on b and b depends on a.
 */
export function findCycle(nodes: PlanNode[]): string[] | undefined {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    state.set(id, 'visiting');
    stack.push(id);
    for (const dep of waitsFor(byId.get(id))) {
      if (!byId.has(dep)) continue;
      if (state.get(dep) === 'visiting') return [...stack.slice(stack.indexOf(dep)), dep];
      if (!state.has(dep)) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const n of nodes) {
    if (!state.has(n.id)) {
      const found = visit(n.id);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Plans waves: wave k holds the tasks whose dependencies all sit in waves < k. Within a wave,
 * tasks keep their order in the mission file, which is also the merge order.
 *
 * @returns task ids per wave, e.g. `[['a', 'b'], ['c']]`
 * @throws CycleError when the dependencies contain a cycle
 */
export function planWaves(nodes: PlanNode[]): string[][] {
  const cycle = findCycle(nodes);
  if (cycle) throw new CycleError(cycle);
  const known = new Set(nodes.map((n) => n.id));
  const waveOf = new Map<string, number>();
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const depth = (id: string): number => {
    const cached = waveOf.get(id);
    if (cached !== undefined) return cached;
    const deps = waitsFor(byId.get(id)).filter((d) => known.has(d));
    const w = deps.length === 0 ? 0 : Math.max(...deps.map(depth)) + 1;
    waveOf.set(id, w);
    return w;
  };
  const waves: string[][] = [];
  for (const n of nodes) {
    const w = depth(n.id);
    while (waves.length <= w) waves.push([]);
    waves[w].push(n.id);
  }
  return waves;
}

/** Every task that depends on `id`, directly or transitively, in mission-file order. */
export function dependentsOf(nodes: PlanNode[], id: string): string[] {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const n of nodes) {
      if (out.has(n.id)) continue;
      if (n.dependsOn.some((d) => d === id || out.has(d))) {
        out.add(n.id);
        grew = true;
      }
    }
  }
  return nodes.filter((n) => out.has(n.id)).map((n) => n.id);
}
