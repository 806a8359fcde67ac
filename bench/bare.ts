/**
 * The bare-git script: the git work of a trivial mission with nothing around it. Per task: a
 * worktree on a new branch from the integration branch (`git worktree add -b`), the same agent as
 * the generated mission (`sh -c`, writes one file), `git add -A`, `git commit`; then a `--no-ff`
 * merge of the task branch into the integration branch, in its own worktree, one merge at a time
 * as tasks finish. `concurrency` tasks at once; wave k starts after wave k-1 is merged. `git
 * worktree add` and the merges take turns, as under Flotilla's repository lock: a `worktree add`
 * concurrent with another fails now and then (`fatal: failed to read .git/worktrees/N/commondir`).
 *
 *   node lib/bench/bare.js --repo DIR --tasks 100 --concurrency 8 --waves 4
 *
 * Prints one JSON line: {wallMs, tasks, endToMergedMs: [...], taskMs: [...]}.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { AGENT_SCRIPT, parseSize, Size, taskIds } from './mission';

function run(file: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { cwd, env: env ?? process.env }, (err, _stdout, stderr) =>
      err ? reject(new Error(`${file} ${args.join(' ')} (in ${cwd}): ${err.message}\n${stderr}`)) : resolve(),
    ),
  );
}

const git = (cwd: string, ...args: string[]): Promise<void> => run('git', args, cwd);

/** Runs `fn` on each item, at most `limit` at once. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(lanes);
}

/** Runs the bare mission on `repo` (branch `main`); returns its figures. */
export async function bareMission(
  repo: string,
  size: Size,
): Promise<{ wallMs: number; endToMergedMs: number[]; taskMs: number[] }> {
  const started = Date.now();
  const work = `${repo}.worktrees`;
  const integration = path.join(work, 'integration');
  await git(repo, 'worktree', 'add', '-q', '-b', 'integration', integration, 'main');
  const endToMergedMs: number[] = [];
  const taskMs: number[] = [];
  // The repository's lock: one `worktree add` or merge at a time; merges in the order tasks finish.
  let locked: Promise<void> = Promise.resolve();
  const withLock = (fn: () => Promise<void>): Promise<void> => (locked = locked.then(fn));
  for (const wave of taskIds(size)) {
    const merged: Promise<void>[] = [];
    await pool(wave, size.concurrency, async (id) => {
      const t0 = Date.now();
      const dir = path.join(work, id);
      await withLock(() => git(repo, 'worktree', 'add', '-q', '-b', `task/${id}`, dir, 'integration'));
      await run('sh', ['-c', AGENT_SCRIPT], dir, { ...process.env, FLOTILLA_TASK_ID: id });
      await git(dir, 'add', '-A');
      await git(dir, 'commit', '-q', '-m', `task ${id}`);
      const ended = Date.now();
      taskMs.push(ended - t0);
      merged.push(
        withLock(async () => {
          await git(integration, 'merge', '--no-ff', '-q', '-m', `merge task/${id}`, `task/${id}`);
          endToMergedMs.push(Date.now() - ended);
        }),
      );
    });
    await Promise.all(merged);
  }
  return { wallMs: Date.now() - started, endToMergedMs, taskMs };
}

async function main(argv: string[]): Promise<void> {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const repo = opt('repo');
  if (!repo) {
    process.stderr.write('usage: bare.js --repo DIR --tasks N --concurrency C --waves W\n');
    process.exit(2);
  }
  const size = parseSize(`${opt('tasks') ?? 10}/${opt('concurrency') ?? 8}/${opt('waves') ?? 1}`);
  const result = await bareMission(path.resolve(repo), size);
  process.stdout.write(`${JSON.stringify({ tasks: size.tasks, ...result })}\n`);
}

if (require.main === module)
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
