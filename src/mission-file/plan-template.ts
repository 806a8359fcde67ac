/**
 * The template of `flotilla plan --from TEMPLATE.yaml`: a mission file without `tasks:`. Its
 * `planner:` block (agent fields) configures the planner agent; everything else (agent, verify,
 * policy, concurrency, setup, env, copy, budget, land, ...) is the plan's defaults, copied into the
 * mission file the planner writes (template fields win). Client-side only (Node APIs).
 */
import { z } from 'zod';
import { MissionFileError } from './errors';
import { parseMissionText, readMissionText, zodProblems } from './parse';
import { missionSchema, type RawAgent } from './schema';

/** A template: every mission field but `tasks`, which it must not have. */
const templateSchema = missionSchema.extend({
  tasks: z.undefined({ error: 'a template has no tasks: the planner writes them; remove `tasks:`' }).optional(),
});

export interface PlanTemplate {
  /** Absolute path of the template file. */
  file: string;
  /** Its `planner:` block, as written (defaults applied later). */
  planner?: RawAgent;
  /** Its other fields, as written: the plan's defaults. */
  defaults: Record<string, unknown>;
}

/**
 * Reads and validates a template.
 * @throws MissionFileError (exit 2): missing or unreadable file, YAML errors, unknown fields, a
 *   `tasks:` list, a field of the wrong type
 */
export function loadTemplate(file: string): PlanTemplate {
  const data = parseMissionText(file, readMissionText(file));
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new MissionFileError(file, [
      {
        path: '',
        reason: 'a template must be a mapping (agent:, verify:, planner:, ...)',
        fix: 'see examples/plan/template.yaml',
      },
    ]);
  const parsed = templateSchema.safeParse(data);
  if (!parsed.success) throw new MissionFileError(file, zodProblems(parsed.error, data));
  const { planner, ...defaults } = data as Record<string, unknown>;
  return { file, ...(planner ? { planner: parsed.data.planner } : {}), defaults };
}
