/**
 * What `flotilla validate` prints: the mission's wave plan, and what a user checks before starting
 * it: what it does when a task fails, a merge conflicts or the mission verify fails (its
 * policies), who resolves conflicts (the resolver agent), how it lands, and its budget.
 */
import { byId } from '../mission/by-id';
import type { AgentSpec, LandMode, MissionSpec } from '../mission/types';

/** `claude`, or `claude, sandbox bwrap` for a sandboxed agent. */
const agentLabel = (agent: AgentSpec): string =>
  agent.sandbox ? `${agent.runtime}, sandbox ${agent.sandbox}` : agent.runtime;

/** What each `land:` mode does when the mission completes (README, "Landing and cleaning up"). */
const LANDING: Record<LandMode, (missionId: string) => string> = {
  none: (id) => `its work waits on the integration branch for \`flotilla land ${id}\``,
  ff: () => 'the local base branch is fast-forwarded to its work',
  push: () => "its work is pushed to the remote's base branch",
  pr: () => 'the integration branch is pushed and a pull request opened',
};

/**
 * The resolver agent (`resolver:`, the mission's agent by default): `[claude, sandbox bwrap] model
 * claude-opus-4-1`; the model is left out for `command`, which has none.
 */
function resolverLabel(agent: AgentSpec): string {
  const model =
    agent.runtime === 'command' ? '' : agent.model ? ` model ${agent.model}` : " model: the runtime's default";
  return `[${agentLabel(agent)}]${model}`;
}

/**
 * The plan `validate` prints: the repository; the tasks, waves and concurrency; the policies
 * (`onTaskFailure`, `onMergeConflict`, `onVerifyFailure`); the resolver when conflicts are
 * resolved by an agent; the land mode and the budget (defaults spelled out); then each wave's
 * tasks with their agent and order.
 */
export function renderPlan(spec: MissionSpec, waves: string[][], file: string): string {
  const { policy } = spec;
  const land = spec.land ?? 'none';
  const lines = [
    `mission ${spec.id} (${file})`,
    `  repo: ${spec.repo}${spec.base ? `  base: ${spec.base}` : ''}`,
    `  ${spec.tasks.length} task${spec.tasks.length === 1 ? '' : 's'} in ${waves.length} wave${waves.length === 1 ? '' : 's'}, concurrency ${spec.concurrency}`,
    `  policy: onTaskFailure ${policy.onTaskFailure} · onMergeConflict ${policy.onMergeConflict} · onVerifyFailure ${policy.onVerifyFailure}`,
    ...(policy.onMergeConflict === 'resolve' && spec.resolver ? [`  resolver: ${resolverLabel(spec.resolver)}`] : []),
    `  land: ${land} (${LANDING[land](spec.id)}) · budget: ${spec.budgetUsd ? `$${spec.budgetUsd}` : 'none'}`,
  ];
  waves.forEach((ids, i) => {
    lines.push(`  wave ${i}:`);
    for (const id of ids) {
      const t = byId(spec.tasks, id)!;
      const deps = [
        t.dependsOn.length ? `after ${t.dependsOn.join(', ')}` : '',
        t.after?.length ? `serialized after ${t.after.join(', ')}: touches overlap` : '',
      ].filter(Boolean);
      const notes = deps.length ? `  (${deps.join('; ')})` : '';
      lines.push(`    - ${id}: ${t.title} [${agentLabel(t.agent)}]${notes}`);
    }
  });
  return lines.join('\n');
}
