/**
 * What a mission's and a task's workflows say about themselves in the Temporal Web UI: a one-line
 * static summary (the workflow list) and Markdown static details (the workflow page), set when
 * each workflow starts (`staticSummary` / `staticDetails` of the start options; Temporal's "user
 * metadata"). Pure: the client and the workflows both use it.
 */
import type { CommandLine, MissionSpec, TaskSpec } from './types';
import { withoutUrlCredentials } from './url-credentials';

/** Temporal keeps user metadata small; these bounds keep a 200-task plan readable and far below them. */
const MAX_DETAILS_CHARS = 20_000;
const PROMPT_LINES = 8;
const PROMPT_CHARS = 800;

const command = (c: CommandLine): string => (Array.isArray(c) ? c.join(' ') : c);
const agentOf = (t: TaskSpec): string => `${t.agent.runtime}${t.agent.model ? ` / ${t.agent.model}` : ''}`;
const basename = (p: string): string => p.split(/[\\/]/).filter(Boolean).pop() ?? p;

/** Cuts `text` to `max` characters with a note saying so. */
function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}\n\n… (cut: ${text.length - max} more characters)`;
}

/** `mission greetings · app · 5 tasks`: the mission workflow's line in the workflow list. */
export function missionSummary(spec: MissionSpec): string {
  return `mission ${spec.id} · ${basename(withoutUrlCredentials(spec.repo))} · ${spec.tasks.length} task${spec.tasks.length === 1 ? '' : 's'}`;
}

/** The plan as Markdown: waves and tasks (title, dependencies, agent), policies, verify. */
export function missionDetails(spec: MissionSpec, waves: string[][]): string {
  const byId = new Map(spec.tasks.map((t) => [t.id, t]));
  const lines = [
    `**Mission** \`${spec.id}\` on \`${withoutUrlCredentials(spec.repo)}\`, base \`${spec.base}\`, concurrency ${spec.concurrency}`,
    '',
    `**Policies**: on task failure \`${spec.policy.onTaskFailure}\`, on merge conflict \`${spec.policy.onMergeConflict}\`, on verify failure \`${spec.policy.onVerifyFailure}\`${spec.land && spec.land !== 'none' ? `; lands with \`${spec.land}\`` : ''}${spec.budgetUsd ? `; budget $${spec.budgetUsd}` : ''}`,
    '',
    `**Mission verify**: ${spec.verify.length ? spec.verify.map((c) => `\`${command(c)}\``).join(', ') : 'none'}`,
    '',
    '| wave | task | title | after | agent |',
    '|---|---|---|---|---|',
  ];
  waves.forEach((ids, w) => {
    for (const id of ids) {
      const t = byId.get(id)!;
      const after = [...t.dependsOn, ...(t.after ?? []).map((x) => `${x} (touches)`)].join(', ');
      lines.push(`| ${w} | \`${id}\` | ${t.title.replace(/\|/g, '\\|')} | ${after || '-'} | ${agentOf(t)} |`);
    }
  });
  return cut(lines.join('\n'), MAX_DETAILS_CHARS);
}

/** `Add a greeting helper · claude / claude-sonnet-4-5`: a task workflow's line in the list. */
export function taskSummary(task: TaskSpec): string {
  return `${task.title} · ${agentOf(task)}`;
}

/** The task as Markdown: the first lines of its prompt, its gate commands, its limits. */
export function taskDetails(task: TaskSpec): string {
  const prompt = task.prompt.split('\n').slice(0, PROMPT_LINES).join('\n');
  const more = task.prompt.split('\n').length > PROMPT_LINES ? '\n…' : '';
  return cut(
    [
      `**Task** \`${task.id}\`: ${task.title} (${agentOf(task)})`,
      '',
      '```text',
      `${cut(prompt, PROMPT_CHARS)}${more}`,
      '```',
      '',
      `**Gate**: ${task.verify.length ? task.verify.map((c) => `\`${command(c)}\``).join(', ') : 'none'}, at most ${task.maxIterations} agent run${task.maxIterations === 1 ? '' : 's'}`,
      // A blank line: Markdown joins consecutive lines into one paragraph.
      '',
      `**Depends on**: ${task.dependsOn.length ? task.dependsOn.join(', ') : 'nothing'}`,
    ].join('\n'),
    MAX_DETAILS_CHARS,
  );
}
