/**
 * `npm run bench`: Flotilla against the bare-git script (bench/bare.ts) on the same missions
 * (bench/mission.ts), interleaved in one run (bare, Flotilla, bare, Flotilla, …) so that both
 * see the same load. Prints each run and a table per mission size, and writes everything, with
 * the machine, to bench-results.json. See README.md, "Benchmark".
 *
 *   node lib/bench/run.js [--quick] [--sizes 10/8/1,100/8/1,100/8/4,500/8/5,1000/8/1] [--reps N]
 *                         [--out FILE] [--keep]
 *
 * --quick (or BENCH_QUICK=1): 10/8/1 and 100/8/1 only. Repetitions: 3 for missions of up to 100
 * tasks, 1 above, unless --reps says. 1000/8/1 runs only when named in --sizes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installGitWrapper, realGit } from './git-log';
import { connect } from './histories';
import { parseSize, Size, sizeName } from './mission';
import { Bench, RunFigures, runBare, runFlotilla } from './measure';
import { loadAverage, machine } from './proc';
import { onInterrupt, startServer } from './server';
import { round, showSpread, spread, Spread } from './stats';

const DEFAULT_SIZES = ['10/8/1', '100/8/1', '100/8/4', '500/8/5'];
const QUICK_SIZES = ['10/8/1', '100/8/1'];

interface Args {
  sizes: Size[];
  reps?: number;
  out: string;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick') || process.env.BENCH_QUICK === '1';
  const sizes = (opt('sizes')?.split(',') ?? (quick ? QUICK_SIZES : DEFAULT_SIZES)).map(parseSize);
  const reps = opt('reps') ? Number(opt('reps')) : undefined;
  return { sizes, reps, out: path.resolve(opt('out') ?? 'bench-results.json'), keep: argv.includes('--keep') };
}

/** A mission size's figures over its repetitions: each figure's min/median/max. */
interface SizeSummary {
  size: string;
  reps: number;
  bareWallS: Spread | null;
  flotillaWallS: Spread | null;
  /** The mission's own start -> end (workflow time), s. */
  missionS: Spread | null;
  /** Flotilla's wall time over the bare script's, per repetition (its spread). */
  ratio: Spread | null;
  flotillaCpuSPerTask: Spread | null;
  serverCpuSPerTask: Spread | null;
  bareCpuSPerTask: Spread | null;
  gitPerTask: Spread | null;
  bareGitPerTask: Spread | null;
  historyEventsPerTask: Spread | null;
  /** Requests to the server's frontend (gRPC calls of the CLI and its worker) per task. */
  frontendRequestsPerTask: Spread | null;
  endToMergedP50S: Spread | null;
  endToMergedP95S: Spread | null;
  taskP50S: Spread | null;
  peakRssMb: Spread | null;
  /** 1-min load average at the start of each run. */
  load: Spread | null;
  failed: number;
}

/** The run's requests to the server's frontend service, all operations. */
const frontendRequests = (r: RunFigures): number =>
  Object.entries(r.serverRequests ?? {})
    .filter(([k]) => k.startsWith('frontend:'))
    .reduce((sum, [, v]) => sum + v, 0);

function summarize(size: string, runs: RunFigures[]): SizeSummary {
  const bare = runs.filter((r) => r.kind === 'bare' && r.ok);
  const flo = runs.filter((r) => r.kind === 'flotilla' && r.ok);
  const of = (rs: RunFigures[], f: (r: RunFigures) => number | undefined, digits = 2): Spread | null =>
    spread(
      rs.map((r) => f(r) ?? NaN),
      digits,
    );
  const ratios = flo.map((r) => {
    const b = bare.find((x) => x.rep === r.rep);
    return b ? r.wallS / b.wallS : NaN;
  });
  return {
    size,
    reps: Math.max(bare.length, flo.length),
    bareWallS: of(bare, (r) => r.wallS),
    flotillaWallS: of(flo, (r) => r.wallS),
    missionS: of(flo, (r) => r.missionS),
    ratio: spread(ratios, 1),
    flotillaCpuSPerTask: of(flo, (r) => r.cpuSPerTask, 3),
    serverCpuSPerTask: of(flo, (r) => r.serverCpuSPerTask, 3),
    bareCpuSPerTask: of(bare, (r) => r.cpuSPerTask, 3),
    gitPerTask: of(flo, (r) => r.gitPerTask, 1),
    bareGitPerTask: of(bare, (r) => r.gitPerTask, 1),
    historyEventsPerTask: of(flo, (r) => r.history?.eventsPerTask, 1),
    frontendRequestsPerTask: of(flo, (r) => frontendRequests(r) / Number(size.split('/')[0]), 1),
    endToMergedP50S: of(flo, (r) => r.endToMergedS.p50),
    endToMergedP95S: of(flo, (r) => r.endToMergedS.p95),
    taskP50S: of(flo, (r) => r.taskS.p50),
    peakRssMb: of(flo, (r) => r.peakRssMb, 0),
    load: of(runs, (r) => r.load[0], 1),
    failed: runs.filter((r) => !r.ok).length,
  };
}

function printTable(summaries: SizeSummary[]): void {
  const rows: [string, (s: SizeSummary) => string][] = [
    ['bare git, wall s', (s) => showSpread(s.bareWallS)],
    ['Flotilla, wall s', (s) => showSpread(s.flotillaWallS)],
    ['  of which the mission itself (workflow time) s', (s) => showSpread(s.missionS)],
    ['ratio', (s) => showSpread(s.ratio, 'x')],
    ['CPU s/task, Flotilla (CLI+worker+git+agents)', (s) => showSpread(s.flotillaCpuSPerTask)],
    ['CPU s/task, Temporal dev server', (s) => showSpread(s.serverCpuSPerTask)],
    ['CPU s/task, bare script', (s) => showSpread(s.bareCpuSPerTask)],
    ['git processes/task (bare)', (s) => `${showSpread(s.gitPerTask)} (${showSpread(s.bareGitPerTask)})`],
    ['history events/task', (s) => showSpread(s.historyEventsPerTask)],
    ['server frontend requests/task', (s) => showSpread(s.frontendRequestsPerTask)],
    ['task end -> merged p50 s', (s) => showSpread(s.endToMergedP50S)],
    ['task end -> merged p95 s', (s) => showSpread(s.endToMergedP95S)],
    ["task's own steps p50 s", (s) => showSpread(s.taskP50S)],
    ['worker peak RSS MB', (s) => showSpread(s.peakRssMb)],
    ['load average (1 min) at start', (s) => showSpread(s.load)],
  ];
  const head = [
    'mission (tasks/at once/waves)',
    ...summaries.map((s) => `${s.size} (${s.reps}x${s.failed ? `, ${s.failed} failed` : ''})`),
  ];
  const table = [head, ...rows.map(([name, f]) => [name, ...summaries.map(f)])];
  const widths = head.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  for (const r of table) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
}

const line = (r: RunFigures): string =>
  `${r.kind.padEnd(8)} ${r.size} #${r.rep}: ${r.ok ? '' : 'FAILED '}wall ${r.wallS}s, cpu ${r.cpuSPerTask}s/task, server ${r.serverCpuSPerTask}s/task, git ${r.gitPerTask}/task` +
  (r.kind === 'flotilla'
    ? `, ${r.history?.eventsPerTask} events/task, end->merged p50 ${r.endToMergedS.p50}s p95 ${r.endToMergedS.p95}s, rss ${r.peakRssMb} MB`
    : '') +
  ` (load ${r.load[0]} -> ${r.load[1]})`;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-bench-'));
  const git = realGit();
  const wrapper = installGitWrapper(path.join(work, 'bin'));
  const server = await startServer(path.join(work, 'server'));
  // A dev server just started works for a few seconds more (namespace, system workflows).
  await new Promise((r) => setTimeout(r, 5_000));
  const { client, close } = await connect(server.address);
  const bench: Bench = { work, wrapperDir: wrapper.dir, realGit: git, server, client, keep: args.keep };
  const results = {
    startedAt: new Date().toISOString(),
    machine: machine(git, server.temporal),
    gitWrapper: wrapper.kind,
    loadAtStart: loadAverage(),
    summaries: [] as SizeSummary[],
    runs: [] as RunFigures[],
  };
  const save = (): void => writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
  onInterrupt(async () => {
    await server.stop();
    if (!args.keep) rmSync(work, { recursive: true, force: true });
  });
  console.log(`machine: ${JSON.stringify(results.machine)}; load ${results.loadAtStart.join(' ')}; work in ${work}`);
  try {
    for (const size of args.sizes) {
      const reps = args.reps ?? (size.tasks <= 100 ? 3 : 1);
      const runs: RunFigures[] = [];
      for (let rep = 1; rep <= reps; rep++)
        for (const kind of ['bare', 'flotilla'] as const) {
          const r = kind === 'bare' ? await runBare(bench, size, rep) : await runFlotilla(bench, size, rep);
          console.log(line(r));
          if (r.error) console.log(`  ${r.error.split('\n').slice(-5).join('\n  ')}`);
          runs.push(r);
          results.runs.push(r);
          save();
        }
      results.summaries.push(summarize(sizeName(size), runs));
      save();
    }
    printTable(results.summaries);
    console.log(
      `written: ${args.out} (load now ${loadAverage()
        .map((x) => round(x, 2))
        .join(' ')})`,
    );
  } finally {
    await close();
    await server.stop();
    if (!args.keep) rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
