/**
 * That a mission's commands (setup, each task's gate, the mission verify) can run in its
 * repository: the program each starts exists, on the worker's PATH or in the repository, and for
 * `npm run X` / `npm test` (yarn, pnpm too) and `make X` the script or target exists. `flotilla
 * plan` checks a planner's plan with it, so a gate the planner made up goes back to the planner
 * instead of failing every task. Heuristic by design: a shell command line's first word is the
 * program (after `VAR=value` words); anything a shell builtin runs is taken as it is. Client side
 * (Node APIs); read-only.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { findOnPath } from '../agents/programs';
import type { CommandLine } from '../mission/types';
import type { MissionProblem } from './errors';

/** Words a POSIX shell runs itself: never looked up on PATH. */
const BUILTINS = new Set(
  'cd test [ true false echo printf exit set export unset eval exec read shift source . : command type wait trap umask'.split(
    ' ',
  ),
);

/** The argv a command line starts: an argv as given; a shell line's words (quotes stripped, naively). */
function wordsOf(command: CommandLine): string[] {
  if (typeof command !== 'string') return command;
  const words = command.trim().match(/"[^"]*"|'[^']*'|[^\s;&|()]+/g) ?? [];
  const unquoted = words.map((w) => w.replace(/^(["'])(.*)\1$/, '$2'));
  while (unquoted.length > 1 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(unquoted[0])) unquoted.shift();
  return unquoted;
}

/** The package.json scripts of `dir`, or null when it has none (or cannot be read). */
function scriptsOf(dir: string): Record<string, unknown> | null {
  try {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { scripts?: unknown };
    return pkg.scripts && typeof pkg.scripts === 'object' ? (pkg.scripts as Record<string, unknown>) : {};
  } catch {
    return null;
  }
}

/** Why `command` cannot run in `dir`, or null when it looks runnable. */
export function commandProblem(command: CommandLine, dir: string, searchPath = process.env.PATH ?? ''): string | null {
  const [program, ...args] = wordsOf(command);
  if (!program || BUILTINS.has(program)) return null;
  if (!findOnPath(program, searchPath, dir))
    return program.includes('/')
      ? `${program} does not exist in the repository (or is not executable)`
      : `${program} is not installed on this host (not on PATH)`;
  const name = path.basename(program);
  if (['npm', 'yarn', 'pnpm'].includes(name)) {
    const script = args[0] === 'run' || args[0] === 'run-script' ? args[1] : args[0] === 'test' ? 'test' : undefined;
    if (script === undefined) return null;
    const scripts = scriptsOf(dir);
    if (scripts === null) return `the repository has no package.json, so \`${name} ${args.join(' ')}\` cannot run`;
    if (!(script in scripts))
      return `package.json has no "${script}" script (it has: ${Object.keys(scripts).join(', ') || 'none'})`;
  }
  if (name === 'make') {
    const makefile = ['GNUmakefile', 'makefile', 'Makefile'].map((f) => path.join(dir, f)).find(existsSync);
    if (!makefile) return 'the repository has no Makefile';
    const target = args.find((a) => !a.startsWith('-') && !a.includes('='));
    if (
      target &&
      !new RegExp(`^${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:`, 'm').test(readFileSync(makefile, 'utf8'))
    )
      return `${path.basename(makefile)} has no target "${target}"`;
  }
  return null;
}

/** The commands of a mission, as a mission file or a loaded spec holds them (anything else is skipped). */
export interface MissionCommands {
  setup?: unknown;
  verify?: unknown;
  tasks?: unknown;
}

const commandsIn = (v: unknown): CommandLine[] =>
  Array.isArray(v)
    ? v.filter(
        (c): c is CommandLine => typeof c === 'string' || (Array.isArray(c) && c.every((a) => typeof a === 'string')),
      )
    : [];

/**
 * Every setup, gate and verify command of `mission` that cannot run in `dir` (the repository at
 * its base). Takes the raw mission file too, so these problems are found with the schema's.
 */
export function gateCommandProblems(mission: MissionCommands, dir: string, searchPath?: string): MissionProblem[] {
  const problems: MissionProblem[] = [];
  const check = (at: string, commands: CommandLine[]): void =>
    commands.forEach((c, i) => {
      const why = commandProblem(c, dir, searchPath);
      if (why)
        problems.push({
          path: `${at}[${i}]`,
          reason: `${typeof c === 'string' ? c : c.join(' ')}: ${why}`,
          fix: "use a command the repository's own tooling provides (its package.json scripts, Makefile targets, test runner)",
        });
    });
  check('setup', commandsIn(mission.setup));
  const tasks = Array.isArray(mission.tasks) ? (mission.tasks as unknown[]) : [];
  tasks.forEach((t, i) => check(`tasks[${i}].verify`, commandsIn((t as { verify?: unknown } | null)?.verify)));
  check('verify', commandsIn(mission.verify));
  return problems;
}
