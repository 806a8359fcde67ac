/**
 * `npm run bench:profile`: where a mission's time goes. Runs one Flotilla mission (default
 * 100/8/1) through the CLI under `node --cpu-prof`, with every spawn's stack kept, and reports:
 *  - the CPU of the CLI process (it runs the worker) and of its children, and the JS profile of
 *    each thread by module and function (bench/cpuprofile.ts);
 *  - git processes per task by subcommand, by argv shape, and by the Flotilla functions that ran
 *    them;
 *  - Temporal round trips per task: the server's requests by operation, history events by type
 *    (activities by type, workflow tasks, signals, search attribute upserts);
 *  - the time line of one task and the typical (p50) time line over all tasks;
 *  - with --polling: what `run`/`watch`'s progress display costs (bench/polling.ts).
 * Writes bench-profile.json and keeps the .cpuprofile files in bench-profile/.
 *
 *   node lib/bench/profile.js [--size 100/8/1] [--polling | --polling-only] [--keep]
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CpuProfile, showSummary, summarizeProfile } from './cpuprofile';
import { argvShape, byShape, countSorted, installGitWrapper, readGitLog, realGit } from './git-log';
import { connect } from './histories';
import { Bench, RunFigures, RunLeft, runFlotilla } from './measure';
import { parseSize, Size } from './mission';
import { pollingCost } from './polling';
import { loadAverage, machine } from './proc';
import { onInterrupt, startServer } from './server';
import { round } from './stats';
import { showTimeline, taskTimeline, typicalTimeline } from './timeline';

const perTask = (counts: Record<string, number>, n: number, min = 0): Record<string, number> =>
  Object.fromEntries(
    Object.entries(counts)
      .filter(([, v]) => v / n >= min)
      .map(([k, v]) => [k, round(v / n, 2)]),
  );

/** Git calls by the Flotilla functions on their stack (hook calls), each with its argv shape. */
function gitByFunction(left: RunLeft, taskIds: string[]): Record<string, number> {
  const ids = new Set(taskIds);
  const calls = (left.hook?.calls ?? []).filter((c) => c.argv[0] === 'git');
  return countSorted(
    calls.map((c) => {
      // The innermost frames are the git helpers (git.ts, queue.ts's own); name the callers too.
      const frames = c.frames.slice(0, 4).map((f) => f.replace(/ (activities|client|mission|worker)\//, ' '));
      return `${argvShape(c.argv.slice(1), left.missionId, ids)}  <-  ${frames.join(' < ')}`;
    }),
  );
}

/** Analyses what the profiled run left; returns the report's JSON and prints its text. */
function analyse(left: RunLeft, profDir: string, size: Size): Record<string, unknown> {
  const ids = left.status.tasks.map((t) => t.id);
  const n = Math.max(1, ids.length);
  const profiles = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  const summaries = profiles.map((f) => {
    const s = summarizeProfile(JSON.parse(readFileSync(path.join(profDir, f), 'utf8')) as CpuProfile, 30);
    console.log(`\n${showSummary(f, s)}`);
    return { file: f, ...s };
  });
  const calls = readGitLog(left.gitLog);
  const shapes = perTask(byShape(calls, left.missionId, ids), n);
  console.log(`\ngit processes per task by argv shape (${round(calls.length / n, 1)} per task):`);
  for (const [k, v] of Object.entries(shapes)) console.log(`  ${String(v).padStart(6)}  ${k}`);
  const byFunction = perTask(gitByFunction(left, ids), n);
  console.log('\ngit processes per task by calling function (innermost first):');
  for (const [k, v] of Object.entries(byFunction)) console.log(`  ${String(v).padStart(6)}  ${k}`);
  const middle = ids[Math.floor(ids.length / 2)];
  const mergedAt = left.status.tasks.find((t) => t.id === middle)?.mergedAt;
  const timeline = taskTimeline(left.histories, left.missionId, middle, calls, mergedAt);
  console.log(`\ntime line of task ${middle} (offset from the mission's request for it, gap from the line before):`);
  console.log(showTimeline(timeline));
  const typical = typicalTimeline(left.histories, left.missionId, left.status.tasks);
  console.log(`\ntypical time line over ${n} tasks (p50 offset, p50 gap from the line before), ms:`);
  for (const t of typical)
    console.log(`  ${String(t.p50OffsetMs).padStart(7)}  (${String(t.p50GapMs).padStart(6)})  ${t.what}`);
  return {
    size: `${size.tasks}/${size.concurrency}/${size.waves}`,
    cpuProfiles: summaries,
    gitPerTaskByShape: shapes,
    gitPerTaskByFunction: byFunction,
    spawnsPerTask: perTask(left.hook?.spawns ?? {}, n),
    timeline: { task: middle, points: timeline },
    typicalTimeline: typical,
  };
}

async function main(argv: string[]): Promise<void> {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const size = parseSize(opt('size') ?? '100/8/1');
  const pollingOnly = argv.includes('--polling-only');
  const keep = argv.includes('--keep');
  const work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-profile-'));
  const git = realGit();
  const server = await startServer(path.join(work, 'server'));
  const { client, close } = await connect(server.address);
  const bench: Bench = {
    work,
    wrapperDir: installGitWrapper(path.join(work, 'bin')).dir,
    realGit: git,
    server,
    client,
    keep,
  };
  const report: Record<string, unknown> = {
    startedAt: new Date().toISOString(),
    machine: machine(git, server.temporal),
  };
  const save = (): void => writeFileSync('bench-profile.json', `${JSON.stringify(report, null, 2)}\n`);
  onInterrupt(async () => {
    await server.stop();
    if (!keep) rmSync(work, { recursive: true, force: true });
  });
  try {
    if (!pollingOnly) {
      const profDir = path.join(work, 'prof');
      mkdirSync(profDir);
      let analysis: Record<string, unknown> = {};
      const figures: RunFigures = await runFlotilla(bench, size, 1, {
        nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
        stacks: true,
        inspect: (left) => (analysis = analyse(left, profDir, size)),
      });
      const { history, serverRequests } = figures;
      const rest = { ...figures, history: undefined, serverRequests: undefined, spawns: undefined };
      const frontend = Object.fromEntries(
        Object.entries(serverRequests ?? {}).filter(([k]) => k.startsWith('frontend:')),
      );
      console.log(`\nrun: ${JSON.stringify(rest)}`);
      console.log(`\nserver requests per task (frontend): ${JSON.stringify(perTask(frontend, size.tasks, 0.01))}`);
      console.log(`history events per task, task workflows: ${JSON.stringify(history?.perTaskInTaskWorkflow)}`);
      console.log(`history events per task, mission workflow: ${JSON.stringify(history?.perTaskInMissionWorkflow)}`);
      console.log(`the mission's workflow tasks: ${JSON.stringify(history?.missionWorkflowTasks)}`);
      Object.assign(report, { run: figures, frontendRequestsPerTask: perTask(frontend, size.tasks), ...analysis });
      rmSync('bench-profile', { recursive: true, force: true });
      cpSync(profDir, 'bench-profile', { recursive: true });
      save();
    }
    if (argv.includes('--polling') || pollingOnly) {
      report.polling = await pollingCost(bench);
      save();
    }
    console.log(`\nwritten: bench-profile.json, bench-profile/*.cpuprofile (load now ${loadAverage().join(' ')})`);
  } finally {
    await close();
    await server.stop();
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
