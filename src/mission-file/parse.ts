/**
 * Reading a mission file into plain data and turning schema errors into problems people can act
 * on: the file, the field path (also for YAML errors such as a duplicate key), the reason, a fix.
 * Client-side only (Node APIs).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import YAML from 'yaml';
import { z, type ZodError } from 'zod';
import { formatPath, MissionFileError, MissionProblem } from './errors';
import { missionSchema, type RawMission } from './schema';

const KINDS = 'mission files are YAML (.yaml, .yml) or JSON (.json) mappings with id:, tasks:, ...';

/**
 * Reads the mission file's text.
 * @throws MissionFileError when it is missing, a directory, empty or not text
 */
export function readMissionText(file: string): string {
  const fail = (reason: string, fix: string): never => {
    throw new MissionFileError(file, [{ path: '', reason, fix }]);
  };
  if (!existsSync(file)) fail('file not found', `check the path; ${KINDS}`);
  if (statSync(file).isDirectory()) fail('is a directory', 'pass the mission file itself, e.g. mission.yaml');
  const bytes = readFileSync(file);
  if (bytes.includes(0)) fail('is not a text file (it holds NUL bytes)', `pass the mission file; ${KINDS}`);
  const text = bytes.toString('utf8');
  if (text.trim() === '') fail('is empty', 'see examples/quickstart/mission.yaml for a mission file to start from');
  return text;
}

/**
 * The field path (`tasks[1].prompt`) of the key that starts at `offset` in `doc`, or '' when no
 * key starts there (YAML reports a duplicate key at the second one's start).
 */
function keyPathAt(doc: YAML.Document, offset: number): string {
  let found = '';
  YAML.visit(doc, {
    Pair(_key, pair, ancestors) {
      const key = pair.key as YAML.Node | null;
      if (!YAML.isNode(key) || key.range?.[0] !== offset) return undefined;
      const chain = [...ancestors, pair];
      const parts: Array<string | number> = [];
      chain.forEach((node, i) => {
        if (YAML.isPair(node)) parts.push(String(YAML.isScalar(node.key) ? node.key.value : node.key));
        else if (YAML.isSeq(node)) parts.push(node.items.indexOf(chain[i + 1] as never));
      });
      found = formatPath(parts);
      return YAML.visit.BREAK;
    },
  });
  return found;
}

/** YAML's errors as problems: a duplicate key names its field, any error its line and column. */
function yamlProblems(doc: YAML.Document, only?: string): MissionProblem[] {
  return doc.errors
    .filter((e) => !only || e.code === only)
    .map((e) => {
      const where = e.message.split('\n')[0].replace(/:$/, '');
      if (e.code === 'DUPLICATE_KEY')
        return {
          path: keyPathAt(doc, e.pos[0]),
          reason: `duplicate key: ${where}`,
          fix: 'keep one of the two; with both, one would be silently ignored',
        };
      return { path: '', reason: `not valid YAML: ${where}`, fix: 'fix the YAML syntax at the line and column given' };
    });
}

/**
 * Parses YAML or JSON text into plain data. Syntax errors name the line and column; a key given
 * twice in one mapping is an error in both (JSON.parse alone would keep the last one silently).
 * @throws MissionFileError
 */
export function parseMissionText(file: string, text: string): unknown {
  if (file.endsWith('.json')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new MissionFileError(file, [
        { path: '', reason: `not valid JSON: ${(err as Error).message}`, fix: 'fix the JSON syntax' },
      ]);
    }
    // JSON is YAML: its parser finds the duplicate keys JSON.parse drops.
    const dups = yamlProblems(YAML.parseDocument(text, { uniqueKeys: true }), 'DUPLICATE_KEY');
    if (dups.length > 0) throw new MissionFileError(file, dups);
    return data;
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw new MissionFileError(file, yamlProblems(doc));
  return doc.toJS();
}

/** The fields the schema knows at a path (`[]` the mission, `['tasks', 0]` a task, ...). */
function knownFields(at: ReadonlyArray<PropertyKey>): string[] {
  let s: z.ZodType | undefined = missionSchema;
  for (const part of [...at, null]) {
    while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    if (part === null) break;
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(part)];
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else return [];
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/** Edit distance, for "did you mean": small strings only. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** The known field `key` most likely meant (`depends_on` -> `dependsOn`), if one is close. */
function closest(key: string, known: string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_ ]/g, '');
  const scored = known.map((k) => ({ k, d: distance(norm(key), norm(k)) })).sort((x, y) => x.d - y.d);
  return scored[0] && scored[0].d <= Math.max(1, Math.floor(key.length / 4)) ? scored[0].k : undefined;
}

/** The value at a zod path in `data`, or undefined. */
function valueAt(data: unknown, at: ReadonlyArray<PropertyKey>): unknown {
  let v = data;
  for (const part of at)
    v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[part] : undefined;
  return v;
}

/**
 * zod's issues as problems: the field path, the reason, and a fix (a close field name for a typo).
 * @param data what was validated (to tell a missing field from a wrong one)
 */
export function zodProblems(error: ZodError, data: unknown): MissionProblem[] {
  return error.issues.flatMap((issue) => {
    const at = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const known = knownFields(issue.path);
      return issue.keys.map((key) => {
        const guess = closest(key, known);
        return {
          path: at ? `${at}.${key}` : key,
          reason: `unknown field: ${key}`,
          fix: guess
            ? `did you mean \`${guess}\`? (the fields here: ${known.join(', ')})`
            : `remove it; the fields here are ${known.join(', ')} (docs/mission-file.md)`,
        };
      });
    }
    if (issue.code === 'invalid_type' && valueAt(data, issue.path) === undefined)
      return [{ path: at, reason: 'is required', fix: `add \`${at}\`` }];
    if (issue.code === 'invalid_type' && issue.expected === 'object') {
      const fields = knownFields(issue.path);
      const fix = `write \`${at}\` as a mapping of those fields, one \`field: value\` per line under it (docs/mission-file.md)`;
      return [{ path: at, reason: `must be a mapping (fields: ${fields.join(', ')})`, fix }];
    }
    const required = at === 'tasks' || /^tasks\[\d+\]\.id$/.test(at);
    return [
      {
        path: at,
        reason: issue.message,
        fix: `correct \`${at || 'the file'}\`${required ? '' : ' or leave it out (the default applies)'}; the fields are described in docs/mission-file.md`,
      },
    ];
  });
}

/**
 * Reads, parses and validates the mission file's shape and types (cross-field rules are
 * `crossCheck`'s).
 * @throws MissionFileError for every problem found
 */
export function readMission(file: string): RawMission {
  const data = parseMissionText(file, readMissionText(file));
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const it = Array.isArray(data) ? 'a list' : data === null ? 'empty (comments only)' : `a ${typeof data}`;
    throw new MissionFileError(file, [
      {
        path: '',
        reason: `must be a mapping (id:, tasks:, ...); it is ${it}`,
        fix: 'see examples/quickstart/mission.yaml',
      },
    ]);
  }
  const parsed = missionSchema.safeParse(data);
  if (!parsed.success) throw new MissionFileError(file, zodProblems(parsed.error, data));
  return parsed.data;
}
