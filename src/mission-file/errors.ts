/** One thing wrong with a mission file: where (a field path such as `tasks[2].dependsOn[0]`), why, and what to do. */
export interface MissionProblem {
  path: string;
  reason: string;
  fix: string;
}

/** At most this many problems are printed (10,000 tasks without a prompt make 10,000). */
const MAX_SHOWN_PROBLEMS = 20;

/**
 * `items` joined with `sep`, at most `max` of them: the first ones, `…`, the last one and how many
 * were left out (`a, b, c, … (9,996 more), z`). For lists that grow with the number of tasks.
 */
export function someOf(items: readonly string[], max: number, sep = ', '): string {
  if (items.length <= max) return items.join(sep);
  const head = items.slice(0, Math.max(1, max - 1));
  const left = items.length - head.length - 1;
  return [...head, `… (${left.toLocaleString('en-US')} more)`, items[items.length - 1]].join(sep);
}

/**
 * A user mistake in a mission file. The CLI prints {@link MissionFileError.format} without a stack
 * trace and exits with code 2; nothing is started.
 */
export class MissionFileError extends Error {
  constructor(
    public readonly file: string,
    public readonly problems: MissionProblem[],
  ) {
    super(MissionFileError.render(file, problems));
    this.name = 'MissionFileError';
  }

  /** The message: the file, then each problem (at most {@link MAX_SHOWN_PROBLEMS}) with its fix. */
  static render(file: string, problems: MissionProblem[]): string {
    const lines = problems
      .slice(0, MAX_SHOWN_PROBLEMS)
      .map((p) => `  - ${p.path || '(file)'}: ${p.reason}\n    fix: ${p.fix}`);
    if (problems.length > MAX_SHOWN_PROBLEMS)
      lines.push(`  ... and ${problems.length - MAX_SHOWN_PROBLEMS} more (fix these first, then validate again)`);
    return `${file}: invalid mission file (${problems.length} problem${problems.length === 1 ? '' : 's'})\n${lines.join('\n')}`;
  }
}

/** Formats a zod-style path (`['tasks', 2, 'id']`) as `tasks[2].id`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
