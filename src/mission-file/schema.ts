/**
 * The mission file schema (README.md, "The mission file"), written with zod. It checks shape and
 * types; cross-field rules (unknown dependencies, cycles, duplicates) live in `load.ts`, which
 * reports every problem as a {@link MissionProblem}.
 */
import { z } from 'zod';
import { parseDuration } from '../mission/duration';
import { notifySchema } from './schema-notify';

export const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const idText = 'an id: lowercase letters, digits and dashes, starting with a letter or digit, at most 63 characters';

export const idSchema = z.string({ error: `must be ${idText}` }).regex(ID_PATTERN, { error: `must be ${idText}` });

const duration = z
  .string({ error: 'must be a duration such as 30s, 10m or 2h' })
  .refine((s) => parseDuration(s) !== undefined && parseDuration(s)! > 0, {
    error: 'must be a duration such as 30s, 10m or 2h',
  });

const commandText = 'must be a shell command (a string) or an argv (a list of strings)';
const commandLine = z.union([z.string({ error: commandText }).min(1), z.array(z.string()).min(1)], {
  error: commandText,
});

/** Text that must not be empty, e.g. `text('a path')`: "must be a path (text)". */
const text = (what: string) => z.string({ error: `must be ${what} (text)` }).min(1, { error: 'must not be empty' });

/** A whole number in `[min, max]`, with the range in the message. */
const whole = (min: number, max: number) =>
  z
    .number({ error: `must be a whole number from ${min} to ${max}` })
    .int()
    .min(min)
    .max(max);

// --- issue 20, runtime namespaces (README "The mission file", `ports`) ---
/** `ports:` of a mission or task: how many free TCP ports each task (and the mission verify) gets. */
const portsField = whole(0, 64);
// --- end of issue 20, runtime namespaces ---

const stringList = z.array(z.string({ error: 'must be a string' }), { error: 'must be a list of strings' });

/** `env:` and `agent.env`: names of the worker's variables; never the worker's own `TEMPORAL_*`. */
const envNames = z.array(
  z
    .string({ error: 'must be the NAME of an environment variable' })
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be the NAME of an environment variable' })
    .refine((n) => !n.startsWith('TEMPORAL_'), {
      error:
        "is the worker's own Temporal setting or credential (TEMPORAL_*): Flotilla never passes those to agents or commands; remove it",
    }),
  { error: 'must be a list of environment variable names' },
);

/** Agent settings; every field optional so a task's `agent:` can override mission defaults. */
export const agentSchema = z.strictObject({
  runtime: z.enum(['claude', 'codex', 'command'], { error: 'must be one of: claude, codex, command' }).optional(),
  model: text('a model name').optional(),
  args: stringList.optional(),
  command: z
    .array(z.string({ error: 'must be a string' }), {
      error: 'must be an argv: a list of strings, e.g. [bash, -c, "..."]',
    })
    .min(1)
    .optional(),
  env: envNames.optional(),
  timeout: duration.optional(),
  idleTimeout: duration.optional(),
  retries: whole(0, 100).optional(),
  sandbox: z.enum(['none', 'bwrap'], { error: 'must be one of: none, bwrap' }).optional(),
});

export const taskSchema = z.strictObject({
  id: idSchema,
  title: text('a title').optional(),
  prompt: text('the prompt').optional(),
  promptFile: text('a path').optional(),
  dependsOn: z.array(z.string({ error: 'must be a task id' }), { error: 'must be a list of task ids' }).optional(),
  verify: z.array(commandLine, { error: 'must be a list of commands' }).optional(),
  maxIterations: whole(1, 50).optional(),
  agent: agentSchema.optional(),
  checkpointEvery: duration.optional(),
  touches: z
    .array(text('a path glob'), {
      error: 'must be a list of path globs, e.g. ["src/greet/**"]',
    })
    .optional(),
  // --- issue 20, runtime namespaces: see the block near the top of this file ---
  ports: portsField.optional(),
});

export const missionSchema = z.strictObject({
  id: idSchema.optional(),
  repo: text('a path to a git repository').optional(),
  origin: text('a git URL or path').optional(),
  scaffold: text('a path to a folder').optional(),
  base: text('a branch name').optional(),
  concurrency: whole(1, 64).optional(),
  agent: agentSchema.optional(),
  setup: z.array(commandLine, { error: 'must be a list of commands' }).optional(),
  copy: stringList.optional(),
  verify: z.array(commandLine, { error: 'must be a list of commands' }).optional(),
  env: envNames.optional(),
  policy: z
    .strictObject({
      onTaskFailure: z
        .enum(['skip-dependents', 'stop-wave', 'stop-all'], {
          error: 'must be one of: skip-dependents, stop-wave, stop-all',
        })
        .optional(),
      onMergeConflict: z
        .enum(['pause', 'resolve', 'fail'], { error: 'must be one of: pause, resolve, fail' })
        .optional(),
      onVerifyFailure: z
        .enum(['fix', 'revert', 'pause', 'fail'], { error: 'must be one of: fix, revert, pause, fail' })
        .optional(),
    })
    .optional(),
  resolver: agentSchema.optional(),
  land: z.enum(['ff', 'push', 'pr', 'none'], { error: 'must be one of: ff, push, pr, none' }).optional(),
  keepWorktrees: z.boolean({ error: 'must be true or false' }).optional(),
  budget: z.strictObject({ usd: z.number({ error: 'must be a number of US dollars above 0' }).positive() }).optional(),
  checkpointEvery: duration.optional(),
  hostLostAfter: duration.optional(),
  // --- issue 20, runtime namespaces and notifications: see the block near the top / schema-notify.ts ---
  ports: portsField.optional(),
  notify: notifySchema.optional(),
  tasks: z.array(taskSchema, { error: 'must be a list of tasks' }).min(1, { error: 'must hold at least one task' }),
  // ---- `planner:` (issue 20, `flotilla plan`): the planner agent of a template; `run` ignores it.
  planner: agentSchema.optional(),
  // ---- end of `planner:`
});

export type RawMission = z.infer<typeof missionSchema>;
export type RawAgent = z.infer<typeof agentSchema>;
export type RawTask = z.infer<typeof taskSchema>;

/** Largest prompt, bytes: prompts are workflow inputs, and Temporal caps a payload at 2 MB. */
export const MAX_PROMPT_BYTES = 64 * 1024;

/** Defaults for fields the mission file leaves out (documented in README.md). */
export const DEFAULTS = {
  concurrency: 3,
  agent: { runtime: 'claude', args: [], env: [], timeout: '2h', idleTimeout: '10m', retries: 3 },
  maxIterations: 3,
  checkpointEvery: '5m',
  hostLostAfter: '20s',
  policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'fix' },
  land: 'none',
  keepWorktrees: false,
} as const;
