/**
 * Following a mission until it ends or needs a human (`run`, `watch`), with an in-process worker
 * when no standalone worker polls. Ctrl-C leaves the mission running: it says so and how to come
 * back, stops this process's worker within seconds, and exits 130.
 */
import { GenericFormatter, MultiBar, Presets, SingleBar } from 'cli-progress';
import path from 'node:path';
import type { ConflictState, MissionProgress } from '../../mission/progress';
import { TERMINAL_PHASES } from '../../mission/types';
import { EXIT, NoWorkerError } from '../errors';
import { getProgress } from '../missions';
import { AgentActivity, readActivity } from '../activity';
import { carryAnnotations, LiveAgent, liveResolver } from '../live-tasks';
import { renderStatus, stdoutOptions } from '../render';
import {
  progressEvents,
  renderResolverActivity,
  renderSummary,
  renderTaskActivity,
  resolverWorking,
} from '../render-live';
import { workerPolling } from '../visibility';
import { installRuntime, RunningWorkers, startWorkers } from '../workers';
import { writeReport } from '../report/collect';
import { Connected, MissionContext, say, warn } from './context';

/** Between two progress polls, ms. */
const POLL_MS = 1000;
/**
 * Between two descriptions of every running task in plain output, ms: each costs the server a
 * request per running task, and plain output shows no agent's live activity, only changes (a task
 * whose worker is gone turns `pending` within this long). A terminal display describes every poll.
 */
const ANNOTATE_MS = 5000;
/** Unanswered queries in a row tolerated while a just-started mission gets its first workflow task. */
const MAX_MISSES = 30;

/** A blocked mission's reason for its last line: its first line, and where the commands are (the status printed above). */
function waitsFor(reason: string | null): string {
  const [first, ...rest] = (reason ?? '').split('\n');
  return rest.length ? `${first} (what to do is above, under "blocked:")` : first;
}

/** Whether the mission needs a human now: blocked, or paused with nothing left running. */
function needsHuman(p: MissionProgress): boolean {
  return p.phase === 'blocked' || (p.phase === 'paused' && p.counts.running === 0);
}

/** The conflict resolver at work: its conflict, its `runAgent` attempt and what its transcript says. */
interface ResolverNow {
  conflict: ConflictState;
  live?: LiveAgent;
  activity?: AgentActivity;
}

interface Display {
  line(text: string): void;
  /** Shows `p`; `live` holds the running tasks' agents when {@link Display.wantsLive}. */
  update(p: MissionProgress, live?: Map<string, LiveAgent>, resolvers?: ResolverNow[]): void;
  stop(): void;
  /** Whether {@link Display.update} shows what each task's agent does (a terminal): only then is it read. */
  wantsLive: boolean;
}

/** The conflicts the resolver works on now, with what Temporal and its transcript say it does. */
async function resolversNow(connected: Connected, missionId: string, p: MissionProgress): Promise<ResolverNow[]> {
  const working = (p.mergeQueue?.conflicts ?? []).filter(resolverWorking);
  if (working.length === 0) return [];
  const live = await liveResolver(connected.client, missionId);
  const transcript = live?.heartbeat?.transcript;
  const activity = transcript ? readActivity(transcript) : undefined;
  return working.map((conflict) => ({ conflict, live, activity }));
}

/**
 * Plain output (pipes, CI, tests): event lines only, printed when something changes; the resolver
 * gets a line each time what it does changes (its step, its run, its latest tool call or output).
 */
function plainDisplay(): Display {
  const shown = new Map<string, string>();
  return {
    wantsLive: false,
    line: say,
    update: (_p, _live, resolvers = []) => {
      for (const r of resolvers) {
        const c = r.conflict;
        const key = [c.state, c.attempts, r.activity?.tool ?? '', r.activity?.exited ?? ''].join('\0');
        if (shown.get(c.taskId) === key) continue;
        shown.set(c.taskId, key);
        say(renderResolverActivity(c, r.live, r.activity));
      }
    },
    stop: () => undefined,
  };
}

/**
 * On a terminal, a live block under the event lines (cli-progress redraws it): the mission's
 * progress bar, a line per running task with what its agent does now (its current tool or
 * command and for how long, from the transcript named by its heartbeat: `renderTaskActivity`),
 * and one for the conflict resolver while it works (`renderResolverActivity`). Elsewhere, see
 * {@link plainDisplay}.
 */
function progressDisplay(missionId: string): Display {
  if (!process.stdout.isTTY) return plainDisplay();
  const multi = new MultiBar(
    {
      // {percentage}, {value} and {total} are cli-progress's own tokens; ours have other names.
      format: `${missionId} [{bar}] {percentage}% | {merged}/{tasks} merged | {wavesDone}/{waves} waves | {phase}`,
      hideCursor: true,
      barsize: 24,
      clearOnComplete: true,
      autopadding: true,
    },
    Presets.shades_classic,
  );
  const bar = multi.create(100, 0, { merged: 0, tasks: 0, wavesDone: 0, waves: 0, phase: 'starting' });
  const liveLines = new Map<string, SingleBar>();
  const asIs: GenericFormatter = (_options, _params, payload: { text: string }) => payload.text;
  return {
    wantsLive: true,
    line: (text) => multi.log(`${text}\n`),
    update: (p, live, resolvers = []) => {
      bar.update(p.percent, {
        merged: p.counts.merged,
        tasks: p.counts.total,
        wavesDone: p.waves.filter((w) => ['merged', 'failed', 'skipped', 'cancelled'].includes(w.status)).length,
        waves: p.waves.length,
        phase: p.phase,
      });
      const now = Date.now();
      const opts = { now, color: !process.env.NO_COLOR, width: process.stdout.columns || 100 };
      const running = p.tasks.filter((t) => t.status === 'running');
      const idWidth = Math.max(0, ...running.map((t) => t.id.length));
      const texts = new Map<string, string>();
      for (const t of running) {
        const agent = live?.get(t.id);
        const transcript = agent?.heartbeat?.transcript;
        const activity = transcript ? readActivity(transcript) : undefined;
        texts.set(`task ${t.id}`, renderTaskActivity(t, agent, activity, { ...opts, idWidth }));
      }
      for (const r of resolvers)
        texts.set(`resolver ${r.conflict.taskId}`, renderResolverActivity(r.conflict, r.live, r.activity, opts));
      for (const [key, line] of liveLines)
        if (!texts.has(key)) {
          multi.remove(line);
          liveLines.delete(key);
        }
      for (const [key, text] of texts) {
        const line = liveLines.get(key);
        if (line) line.update(0, { text });
        else liveLines.set(key, multi.create(1, 0, { text }, { format: asIs }));
      }
    },
    stop: () => multi.stop(),
  };
}

/**
 * Writes the mission's report (`flotilla report`) and says where; never fails the command: a
 * report that cannot be written says why instead.
 */
async function reportLine(connected: Connected, missionId: string, p: MissionProgress): Promise<string> {
  try {
    const { url } = await writeReport(new MissionContext(connected, missionId), undefined, p);
    return `  report: ${url}`;
  } catch (err) {
    return `  report: not written (${err instanceof Error ? err.message : String(err)}); try \`flotilla report ${missionId}\``;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * Prints progress events until the mission ends or needs a human, or `stop` aborts.
 * @param workerDone the in-process worker's run: its failure ends the follow with that error
 * @returns the exit code for the final state (0 completed, 1 failed/cancelled, 3 needs a human),
 *   or undefined when `stop` aborted
 */
async function follow(
  connected: Connected,
  missionId: string,
  stop: AbortSignal,
  workerDone?: Promise<void>,
): Promise<number | undefined> {
  const { client, config } = connected;
  let prev: MissionProgress | undefined;
  let workerError: unknown;
  void workerDone?.catch((err) => (workerError = err));
  let misses = 0;
  let annotatedAt = 0;
  /** The running tasks described last (annotated). */
  let described = new Set<string>();
  const display = progressDisplay(missionId);
  const aborted = new Promise<undefined>((resolve) => stop.addEventListener('abort', () => resolve(undefined)));
  try {
    while (!stop.aborted) {
      if (workerError) throw workerError;
      let p: MissionProgress | undefined;
      const live = display.wantsLive ? new Map<string, LiveAgent>() : undefined;
      const annotate = display.wantsLive || !prev || Date.now() - annotatedAt >= ANNOTATE_MS;
      const look = { live, annotate, described: annotate ? new Set<string>() : described };
      try {
        // A query may wait seconds for a worker; an interruption does not wait for it.
        p = await Promise.race([getProgress(client, config, missionId, undefined, look), aborted]);
        misses = 0;
      } catch (err) {
        // A mission just started may not have had its first workflow task yet.
        if (err instanceof NoWorkerError && ++misses < MAX_MISSES) {
          await pause(POLL_MS, stop);
          continue;
        }
        throw err;
      }
      if (!p) break;
      if (annotate) [annotatedAt, described] = [Date.now(), look.described];
      else if (prev) carryAnnotations(prev, described, p);
      for (const line of progressEvents(prev, p)) display.line(line);
      display.update(p, live, TERMINAL_PHASES.includes(p.phase) ? [] : await resolversNow(connected, missionId, p));
      prev = p;
      if (TERMINAL_PHASES.includes(p.phase)) {
        display.stop();
        say(renderSummary(p));
        say(await reportLine(connected, missionId, p));
        return p.phase === 'completed' ? EXIT.ok : EXIT.failed;
      }
      if (needsHuman(p)) {
        display.stop();
        say(renderStatus(p, stdoutOptions()));
        say(
          p.phase === 'blocked'
            ? `\nthe mission waits for you: ${waitsFor(p.reason)}`
            : `\nthe mission is paused; continue it with \`flotilla resume ${missionId}\` and \`flotilla watch ${missionId}\``,
        );
        return EXIT.needsHuman;
      }
      await pause(POLL_MS, stop);
    }
    return undefined;
  } finally {
    display.stop();
  }
}

/**
 * Follows the mission (see `follow`), with a worker in this process unless a standalone
 * `flotilla worker` polls: another `run`'s in-process worker leaves with its own mission, so this
 * one never relies on it. SIGINT/SIGTERM: says that the mission keeps running and how to come
 * back (`reattach`, e.g. `flotilla run FILE`, next to `flotilla watch ID`), stops the worker
 * (running agents are killed with their process group and checkpointed; their tasks resume on
 * the next worker) and returns 130.
 * @returns the exit code
 */
export async function followWithWorker(connected: Connected, missionId: string, reattach?: string): Promise<number> {
  const { config, connection } = connected;
  let inProcess: RunningWorkers | undefined;
  if (!(await workerPolling(connection, config.namespace, config.taskQueue, { standaloneOnly: true }))) {
    installRuntime(config, true);
    inProcess = await startWorkers(config, { inProcess: true });
    say(
      `worker: in-process on task queues ${config.taskQueue} and ${inProcess.workers.hostQueue} (log: ${path.join(config.home, 'worker.log')})`,
    );
  }
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupt.signal.aborted) {
      // A second Ctrl-C: the user will not wait for the worker; its agents' next attempt cleans up.
      process.exit(EXIT.interrupted);
    }
    warn(
      `\n${signal === 'SIGINT' ? 'interrupted' : signal}: mission ${missionId} keeps running; follow it again with \`flotilla watch ${missionId}\`${reattach ? ` (or \`${reattach}\`)` : ''}`,
    );
    if (inProcess)
      warn('stopping this worker: running agents are stopped and checkpointed; their tasks go on with the next worker');
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return (await follow(connected, missionId, interrupt.signal, inProcess?.done)) ?? EXIT.interrupted;
  } finally {
    await inProcess?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
