/** One thing wrong with a mission file: where (a field path such as `tasks[2].dependsOn[0]`), why, and what to do. */
export interface MissionProblem {
  path: string;
  reason: string;
  fix: string;
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

  static render(file: string, problems: MissionProblem[]): string {
    const lines = problems.map((p) => `  - ${p.path || '(file)'}: ${p.reason}\n    fix: ${p.fix}`);
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
