/**
 * The benchmark's mission generator: `tasks` trivial tasks in `waves` waves, `concurrency` at once,
 * each a `command` agent that writes one file (`<task id>.txt`) in its worktree, no verify. Every
 * task of wave k depends on every task of wave k-1, so wave k starts after wave k-1 is merged.
 *
 *   node lib/bench/mission.js --tasks 100 --concurrency 8 --waves 4 --repo /path/to/repo [--id ID] > mission.json
 */
import { writeFileSync } from 'node:fs';

/** A mission's size: tasks, tasks at once, waves ("100/8/4"). */
export interface Size {
  tasks: number;
  concurrency: number;
  waves: number;
}

/** "100/8/4" -> {tasks: 100, concurrency: 8, waves: 4}. @throws Error for another shape */
export function parseSize(text: string): Size {
  const m = /^(\d+)\/(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`bad size "${text}": write tasks/concurrency/waves, e.g. 100/8/4`);
  const size = { tasks: Number(m[1]), concurrency: Number(m[2]), waves: Number(m[3]) };
  if (size.tasks < 1 || size.concurrency < 1 || size.waves < 1 || size.waves > size.tasks)
    throw new Error(`bad size "${text}": tasks, concurrency and waves must be at least 1, waves at most tasks`);
  return size;
}

export const sizeName = (s: Size): string => `${s.tasks}/${s.concurrency}/${s.waves}`;

/** The script each task's agent runs (and the bare script too): one file, named after the task. */
export const AGENT_SCRIPT = 'printf "%s\\n" "$FLOTILLA_TASK_ID" > "$FLOTILLA_TASK_ID.txt"';

/** Task ids `t0001`…, in wave order: task i is in wave floor(i * waves / tasks). */
export function taskIds(size: Size): string[][] {
  const waves: string[][] = Array.from({ length: size.waves }, () => []);
  const width = String(size.tasks).length;
  for (let i = 0; i < size.tasks; i++)
    waves[Math.floor((i * size.waves) / size.tasks)].push(`t${String(i + 1).padStart(width, '0')}`);
  return waves;
}

/** The mission file (JSON) for `size` on `repo`, base `main`; `script`: the agents' (`sh -c`). */
export function missionFile(id: string, repo: string, size: Size, script = AGENT_SCRIPT): Record<string, unknown> {
  const waves = taskIds(size);
  return {
    id,
    repo,
    base: 'main',
    concurrency: size.concurrency,
    agent: { runtime: 'command', command: ['sh', '-c', script], timeout: '5m', idleTimeout: '5m', retries: 0 },
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'fail', onVerifyFailure: 'fail' },
    tasks: waves.flatMap((wave, k) =>
      wave.map((taskId) => ({
        id: taskId,
        prompt: `write ${taskId}.txt`,
        maxIterations: 1,
        ...(k > 0 ? { dependsOn: waves[k - 1] } : {}),
      })),
    ),
  };
}

function main(argv: string[]): void {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const repo = opt('repo');
  if (!repo) {
    process.stderr.write('usage: mission.js --tasks N --concurrency C --waves W --repo DIR [--id ID] [--out FILE]\n');
    process.exit(2);
  }
  const size = parseSize(`${opt('tasks') ?? 10}/${opt('concurrency') ?? 8}/${opt('waves') ?? 1}`);
  const text = `${JSON.stringify(missionFile(opt('id') ?? 'bench', repo, size), null, 2)}\n`;
  const out = opt('out');
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
}

if (require.main === module) main(process.argv.slice(2));
