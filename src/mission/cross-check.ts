/**
 * The mission file's cross-field rules, which zod cannot express: unique ids, known dependencies,
 * no cycles, prompts present and not too large, files that exist, policies this version supports.
 * Client-side only (Node APIs).
 */
import { parseDuration } from './duration';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { MissionProblem } from './errors';
import { DEFAULTS, MAX_PROMPT_BYTES } from './schema';
import { findCycle } from './plan';
import type { RawMission } from './schema';
import { hasUrlCredentials, withoutUrlCredentials } from './url-credentials';

/** Cross-field rules zod cannot express; returns problems (empty when fine). */
export function crossCheck(raw: RawMission, dir: string): MissionProblem[] {
  const problems: MissionProblem[] = [];
  const ids = raw.tasks.map((t) => t.id);
  const seen = new Map<string, number>();
  raw.tasks.forEach((t, i) => {
    const first = seen.get(t.id);
    if (first !== undefined) {
      problems.push({
        path: `tasks[${i}].id`,
        reason: `duplicate task id "${t.id}" (also tasks[${first}].id)`,
        fix: 'give every task its own id',
      });
    } else seen.set(t.id, i);
    (t.dependsOn ?? []).forEach((dep, j) => {
      if (dep === t.id) {
        problems.push({
          path: `tasks[${i}].dependsOn[${j}]`,
          reason: `task "${t.id}" depends on itself`,
          fix: 'remove it',
        });
      } else if (!ids.includes(dep)) {
        problems.push({
          path: `tasks[${i}].dependsOn[${j}]`,
          reason: `unknown task "${dep}"`,
          fix: `use one of the task ids: ${ids.join(', ')}`,
        });
      }
    });
    if (t.prompt === undefined && t.promptFile === undefined) {
      problems.push({
        path: `tasks[${i}].prompt`,
        reason: 'is required (or promptFile)',
        fix: 'add `prompt:` text or a `promptFile:` path',
      });
    }
    if (t.prompt !== undefined && t.promptFile !== undefined) {
      problems.push({
        path: `tasks[${i}].promptFile`,
        reason: 'both prompt and promptFile are set',
        fix: 'keep one of them',
      });
    }
    const promptPath = t.promptFile !== undefined ? path.resolve(dir, t.promptFile) : undefined;
    if (promptPath !== undefined && !(existsSync(promptPath) && statSync(promptPath).isFile())) {
      problems.push({
        path: `tasks[${i}].promptFile`,
        reason: existsSync(promptPath) ? `not a file: ${promptPath}` : `file not found: ${promptPath}`,
        fix: 'promptFile is relative to the mission file; check the path',
      });
    }
    const promptSize =
      t.prompt !== undefined
        ? Buffer.byteLength(t.prompt)
        : promptPath && existsSync(promptPath) && statSync(promptPath).isFile()
          ? statSync(promptPath).size
          : 0;
    if (promptSize > MAX_PROMPT_BYTES) {
      problems.push({
        path: `tasks[${i}].${t.prompt !== undefined ? 'prompt' : 'promptFile'}`,
        reason: `the prompt is ${Math.round(promptSize / 1024)} KiB; at most ${MAX_PROMPT_BYTES / 1024} KiB (prompts travel in Temporal history)`,
        fix: 'put the bulk in a file in the repository and have the prompt point the agent at it',
      });
    }
    const agent = { ...DEFAULTS.agent, ...(raw.agent ?? {}), ...(t.agent ?? {}) };
    if (agent.runtime === 'command' && !agent.command) {
      problems.push({
        path: t.agent?.runtime ? `tasks[${i}].agent.command` : 'agent.command',
        reason: 'runtime "command" needs a command',
        fix: 'add `command: [bash, -c, "..."]` (the prompt arrives in $FLOTILLA_PROMPT)',
      });
    }
    if (agent.runtime !== 'command' && t.agent?.command) {
      problems.push({
        path: `tasks[${i}].agent.command`,
        reason: `command is only used by runtime "command" (this task's runtime is "${agent.runtime}")`,
        fix: 'remove it, or set `runtime: command`',
      });
    }
  });
  if (raw.agent?.command && (raw.agent.runtime ?? DEFAULTS.agent.runtime) !== 'command') {
    const anyCommandTask = raw.tasks.some((t) => t.agent?.runtime === 'command');
    if (!anyCommandTask) {
      problems.push({
        path: 'agent.command',
        reason: `command is only used by runtime "command" (the runtime is "${raw.agent.runtime ?? DEFAULTS.agent.runtime}")`,
        fix: 'remove it, or set `agent.runtime: command`',
      });
    }
  }
  const cycle = findCycle(raw.tasks.map((t) => ({ id: t.id, dependsOn: t.dependsOn ?? [] })));
  if (cycle) {
    const i = raw.tasks.findIndex((t) => t.id === cycle[0]);
    problems.push({
      path: `tasks[${i}].dependsOn`,
      reason: `dependency cycle: ${cycle.join(' -> ')}`,
      fix: 'remove one of these dependencies so the tasks can be ordered',
    });
  }
  (raw.copy ?? []).forEach((rel, i) => {
    if (path.isAbsolute(rel) || path.normalize(rel).split(path.sep).includes('..')) {
      problems.push({
        path: `copy[${i}]`,
        reason: `"${rel}" is not a path inside the repository`,
        fix: 'copy takes paths relative to the repository root, such as .env or config/local.json',
      });
    }
  });
  if (raw.origin !== undefined) {
    if (hasUrlCredentials(raw.origin))
      problems.push({
        path: 'origin',
        reason:
          `the URL carries credentials (${withoutUrlCredentials(raw.origin).replace('://', '://<here>@')}): ` +
          'they would be recorded with the mission (its Temporal history, search attributes, logs)',
        fix:
          'remove them from the URL and give each worker host access another way: a git credential helper ' +
          '(`git config --global credential.helper store`, or your OS keychain), or `GIT_ASKPASS` naming a program ' +
          'that prints the token, for HTTPS; or an SSH key with an ssh:// or git@host:path URL',
      });
    for (const field of ['repo', 'scaffold'] as const) {
      if (raw[field] !== undefined)
        problems.push({
          path: field,
          reason: `${field} and origin exclude each other: with origin every worker host works in its own clone`,
          fix: `remove ${field}:, or remove origin: to run the whole mission in ${field === 'repo' ? 'that repository' : 'a scaffolded repository'}`,
        });
    }
    if (raw.land === 'ff')
      problems.push({
        path: 'land',
        reason: 'land: ff moves a local base branch, and with origin there is none to move',
        fix: "use `land: push` (the verified integration goes to the origin's base branch) or `land: pr`",
      });
  }
  if (raw.hostLostAfter !== undefined && raw.origin === undefined)
    problems.push({
      path: 'hostLostAfter',
      reason: 'only missions with an origin move work between hosts',
      fix: 'remove hostLostAfter:, or add origin:',
    });
  else if (raw.hostLostAfter !== undefined && (parseDuration(raw.hostLostAfter) ?? 0) < 5000)
    problems.push({
      path: 'hostLostAfter',
      reason: `${raw.hostLostAfter} is too short: a host that is only busy for a moment would count as lost`,
      fix: 'use 5s or more (default 20s)',
    });
  if (raw.scaffold !== undefined) {
    const scaffoldDir = path.resolve(dir, raw.scaffold);
    if (!existsSync(scaffoldDir) || !statSync(scaffoldDir).isDirectory()) {
      problems.push({
        path: 'scaffold',
        reason: `not a directory: ${scaffoldDir}`,
        fix: 'scaffold is relative to the mission file; check the path',
      });
    }
  }
  return problems;
}
