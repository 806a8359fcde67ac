/**
 * The report's costs: what the agents spent (USD and tokens, as they reported it: Claude reports
 * cost and tokens, Codex tokens, command agents nothing), by runtime and model, the tasks' agents
 * and the conflict resolver apart.
 */
import type { MissionSpec } from '../../mission/types';
import type { ReportTask, RuntimeCost } from './model';

/** What the conflict resolver's runs spent: USD, tokens, and how many runs. */
export interface ResolverUsage {
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  runs: number;
}

/** A resolver usage of no run yet. */
export function emptyResolverUsage(): ResolverUsage {
  return { costUsd: 0, inputTokens: 0, outputTokens: 0, runs: 0 };
}

/**
 * Cost and tokens by runtime (and model), tasks' agents and the conflict resolver apart (labelled
 * by the mission's `resolver` agent, else its first task's), USD rounded to a millionth.
 */
export function runtimeCosts(tasks: ReportTask[], spec: MissionSpec | null, resolver: ResolverUsage): RuntimeCost[] {
  const by = new Map<string, RuntimeCost>();
  const add = (label: string, tasks: number, costUsd: number, inputTokens: number, outputTokens: number): void => {
    const r = by.get(label) ?? { label, tasks: 0, costUsd: 0, inputTokens: 0, outputTokens: 0 };
    r.tasks += tasks;
    r.costUsd += costUsd;
    r.inputTokens += inputTokens;
    r.outputTokens += outputTokens;
    by.set(label, r);
  };
  for (const t of tasks)
    add(t.model ? `${t.runtime} · ${t.model}` : t.runtime, 1, t.costUsd, t.inputTokens, t.outputTokens);
  if (resolver.runs > 0) {
    const agent = spec?.resolver ?? spec?.tasks[0]?.agent;
    const label = agent ? (agent.model ? `${agent.runtime} · ${agent.model}` : agent.runtime) : 'agent';
    add(`${label} (resolver)`, 0, resolver.costUsd, resolver.inputTokens, resolver.outputTokens);
  }
  return [...by.values()].map((r) => ({ ...r, costUsd: Math.round(r.costUsd * 1e6) / 1e6 }));
}
