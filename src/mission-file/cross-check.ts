/**
 * The mission file's cross-field rules, which zod cannot express: unique ids, known dependencies,
 * no cycles, prompts present and not too large, files that exist, policies this version supports.
 * Client-side only (Node APIs).
 */
import { parseDuration } from '../mission/duration';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type MissionProblem, someOf } from './errors';
import { DEFAULTS, MAX_PROMPT_BYTES } from './schema';
import { findCycle } from '../mission/plan';
import { copyProblems, isInside } from './repo-checks';
import type { RawMission, RawTask } from './schema';
import { hasUrlCredentials, withoutUrlCredentials } from '../mission/url-credentials';

/**
 * What is wrong with a `promptFile` (relative to the mission file's folder `dir`), or null. A
 * prompt file lives in the mission's folder (subfolders included), also after symbolic links are
 * followed: `promptFile: ../../etc/passwd` is not a prompt, and would travel into Temporal history.
 */
function promptFileProblem(dir: string, rel: string): string | null {
  const abs = path.resolve(dir, rel);
  const outside = `is outside the mission's folder ${dir}`;
  if (!isInside(dir, abs)) return outside;
  if (!existsSync(abs)) return `file not found: ${abs}`;
  if (!isInside(realpathSync(dir), realpathSync(abs))) return `${outside} (a symbolic link leads out)`;
  if (!statSync(abs).isFile()) return `not a file: ${abs}`;
  if (statSync(abs).size <= MAX_PROMPT_BYTES && readFileSync(abs).includes(0)) return `not a text file: ${abs}`;
  return null;
}

/**
 * What is wrong with a `scaffold` folder, or null: it must be a folder, and not one that holds the
 * folder its repository is made in (`scaffoldRoot`, the copy would copy itself), your home folder
 * or `/` (everything in it would be committed).
 */
function scaffoldProblem(scaffoldDir: string, scaffoldRoot: string | undefined): string | null {
  if (!existsSync(scaffoldDir) || !statSync(scaffoldDir).isDirectory()) return `not a directory: ${scaffoldDir}`;
  const real = realpathSync(scaffoldDir);
  if (real === path.parse(real).root || real === realpathSync(os.homedir()))
    return `${scaffoldDir} is ${real === path.parse(real).root ? 'the root folder' : 'your home folder'}: all of it would be copied and committed`;
  if (scaffoldRoot && [real, path.resolve(scaffoldDir)].some((d) => isInside(d, path.resolve(scaffoldRoot))))
    return `${scaffoldDir} holds ${scaffoldRoot}, where the repository is made from it`;
  return null;
}

/** A task's prompt: given once (`prompt` or `promptFile`), a text file in the mission's folder, not too large. */
function promptProblems(t: RawTask, i: number, dir: string): MissionProblem[] {
  const problems: MissionProblem[] = [];
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
  const promptWrong = t.promptFile !== undefined ? promptFileProblem(dir, t.promptFile) : null;
  if (promptWrong)
    problems.push({
      path: `tasks[${i}].promptFile`,
      reason: promptWrong,
      fix: "promptFile is relative to the mission file and names a text file in the mission's folder",
    });
  const promptSize =
    t.prompt !== undefined
      ? Buffer.byteLength(t.prompt)
      : t.promptFile !== undefined && !promptWrong
        ? statSync(path.resolve(dir, t.promptFile)).size
        : 0;
  if (promptSize > MAX_PROMPT_BYTES) {
    problems.push({
      path: `tasks[${i}].${t.prompt !== undefined ? 'prompt' : 'promptFile'}`,
      reason: `the prompt is ${Math.round(promptSize / 1024)} KiB; at most ${MAX_PROMPT_BYTES / 1024} KiB (prompts travel in Temporal history)`,
      fix: 'put the bulk in a file in the repository and have the prompt point the agent at it',
    });
  }
  return problems;
}

/** A dependency cycle as text, shortened when long: `a -> b -> … (9,995 more) -> a`. */
const cycleText = (cycle: string[]): string => someOf(cycle, 12, ' -> ');

/** Each task's own problems: its id, its dependencies, its prompt, its agent's command. */
function taskProblems(raw: RawMission, dir: string): MissionProblem[] {
  const problems: MissionProblem[] = [];
  const ids = raw.tasks.map((t) => t.id);
  const known = new Set(ids);
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
      } else if (!known.has(dep)) {
        problems.push({
          path: `tasks[${i}].dependsOn[${j}]`,
          reason: `unknown task "${dep}"`,
          fix: `use one of the task ids: ${someOf(ids, 10)}`,
        });
      }
    });
    problems.push(...promptProblems(t, i, dir));
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
  return problems;
}

/** `origin:` and what goes with it: no credentials in its URL, no `repo`, `scaffold` or `land: ff`, `hostLostAfter`. */
function originProblems(raw: RawMission): MissionProblem[] {
  const problems: MissionProblem[] = [];
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
  return problems;
}

/**
 * Cross-field rules zod cannot express; returns problems (empty when fine). Linear in the number
 * of tasks and dependencies (a 10,000-task mission is checked in one pass).
 * @param scaffoldRoot where scaffold repositories are made (`$FLOTILLA_HOME/repos`)
 */
export function crossCheck(raw: RawMission, dir: string, scaffoldRoot?: string): MissionProblem[] {
  const problems: MissionProblem[] = taskProblems(raw, dir);
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
      reason: `dependency cycle: ${cycleText(cycle)}`,
      fix: 'remove one of these dependencies so the tasks can be ordered',
    });
  }
  problems.push(...copyProblems(raw.copy ?? []));
  problems.push(...originProblems(raw));
  const scaffoldWrong = raw.scaffold !== undefined && scaffoldProblem(path.resolve(dir, raw.scaffold), scaffoldRoot);
  if (scaffoldWrong)
    problems.push({
      path: 'scaffold',
      reason: scaffoldWrong,
      fix: 'scaffold is relative to the mission file: point it at the folder of files the repository starts with',
    });
  return problems;
}
