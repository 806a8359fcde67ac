/**
 * One launch of an agent CLI: its process group in the task's worktree, every raw output line to
 * the transcript, events parsed into the attempt's usage (through the usage ledger's RunMeter), and
 * the group killed when the caller's signal aborts (cancellation, a worker's drain), on `timeout`,
 * on `idleTimeout` (stalled) and when the worktree vanishes under it. Nothing here knows Temporal:
 * the caller observes the launch ({@link LaunchObserver}: the activity heartbeats it) and decides
 * what its {@link LaunchOutcome} means.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { resolverContract, taskContract } from './contract';
import { PLAN_FILE_ENV, plannerContract, plannerSandbox } from './planner';
import { agentEnv } from './environment';
import { Ended, LaunchOutcome, OutcomeRecorder } from './outcome';
import { GroupProcess, removePidFile, spawnGroup, Tail, terminateGroup, writePidFile } from './process';
import { findOnPath } from './programs';
import type { Launch, RuntimeAdapter } from './runtimes/types';
import { sandboxArgv, SandboxUnavailable } from './sandbox';
import { TranscriptWriter } from './transcript';
import type { AgentLog, AgentUsage, RunAgentInput } from './types';

/** How often a running agent is checked (timeouts, a lost worktree) and observed, ms. */
const TICK_MS = 1000;

/** What a running launch reports; `runAgent` heartbeats it (src/activities/heartbeat.ts). */
export interface LaunchObserver {
  /** The agent's process group `pgid` runs, writing `transcript`. */
  launched(pgid: number, transcript: string): void;
  /** The agent wrote output: `events` so far, the last at `at` (epoch ms). */
  progress(events: number, at: number): void;
  /** The agent's group is gone. */
  idle(): void;
  /** A moment to report: when the agent starts, about every second while it runs, when it exits. */
  beat(): void;
}

/** What a launch reads of `runAgent`'s input. */
export type LaunchInput = Pick<
  RunAgentInput,
  'missionId' | 'taskId' | 'worktree' | 'branch' | 'agent' | 'iteration' | 'role' | 'extraEnv'
>;

export interface LaunchSpec {
  adapter: RuntimeAdapter;
  input: LaunchInput;
  prompt: string;
  /** True: continue `usage.sessionId`, whose totals so far are in `usage`. */
  resume: boolean;
  /** The attempt's live usage; updated after every event. */
  usage: AgentUsage;
  transcript: string;
  /** Where the group's id is recorded, so a later attempt can kill a group a dead worker left. */
  pidFile: string;
  /** The attempt's number (1 = first), for the transcript. */
  attempt: number;
  /** Aborted: the agent's whole group is killed and the launch ends `cancelled`. */
  signal: AbortSignal;
  log: AgentLog;
  observer: LaunchObserver;
  /** Called every tick while the agent runs (`now`: epoch ms), e.g. to start a periodic checkpoint. */
  onTick?: (now: number) => void;
  /** `$FLOTILLA_HOME`: hidden from a sandboxed agent (`agent.sandbox: bwrap`). */
  flotillaHome: string;
  /** The runtime namespace's variables (namespace.ts `namespaceEnv`); `extraEnv` and the launch's own win. */
  namespaceEnv?: Record<string, string>;
}

/** Runs the agent once and resolves when its whole group is gone. Never throws for the agent's failures. */
export async function launchAgent(spec: LaunchSpec): Promise<LaunchOutcome> {
  const resumeSessionId = spec.resume ? spec.usage.sessionId : null;
  const launch = buildLaunch(spec, resumeSessionId);
  const out = openTranscript(spec, launch, resumeSessionId);
  const started = Date.now();
  const recorder = new OutcomeRecorder(spec.usage, spec.resume, started);
  const spawning = await spawnInput(spec, launch);
  if (!('argv' in spawning)) {
    await out.close();
    return { ...recorder.outcome, ended: 'not-found', ...spawning };
  }
  let proc: GroupProcess;
  try {
    // Agents run for hours and their task may move to another host: never let one outlive its worker.
    proc = spawnGroup(spawning.argv, { cwd: spec.input.worktree, env: spawning.env, watchdog: true });
  } catch {
    await out.close();
    return { ...recorder.outcome, ended: 'not-found' };
  }
  return supervise(spec, proc, out, recorder, started);
}

/** The runtime's argv and environment for this launch, with the task's or the resolver's contract. */
function buildLaunch({ adapter, input, prompt }: LaunchSpec, resumeSessionId: string | null): Launch {
  return adapter.build({
    agent: input.agent,
    prompt,
    worktree: input.worktree,
    missionId: input.missionId,
    taskId: input.taskId,
    resumeSessionId: resumeSessionId ?? undefined,
    contract: contractOf(input),
  });
}

/** The contract of the agent's role: the task's, the resolver's or the planner's. */
function contractOf(input: LaunchInput): string {
  if (input.role === 'resolver') return resolverContract(input.taskId, input.branch, input.worktree);
  if (input.role === 'planner')
    return plannerContract(input.missionId, input.worktree, input.extraEnv?.[PLAN_FILE_ENV] ?? '');
  return taskContract(input.taskId, input.branch, input.worktree);
}

/** Opens the launch's transcript and records what is launched (`flotilla.attempt`). */
function openTranscript(spec: LaunchSpec, launch: Launch, resumeSessionId: string | null): TranscriptWriter {
  const { input, log } = spec;
  const out = new TranscriptWriter(
    spec.transcript,
    (err) => log.warn('transcript write failed; the agent runs on without it', { error: err.message }),
    input.agent.env,
  );
  out.record({
    type: 'flotilla.attempt',
    attempt: spec.attempt,
    iteration: input.iteration,
    runtime: input.agent.runtime,
    ...(input.role && input.role !== 'task' ? { role: input.role } : {}),
    resume: resumeSessionId,
    argv0: launch.argv[0],
    ...(input.agent.sandbox ? { sandbox: input.agent.sandbox } : {}),
  });
  return out;
}

/**
 * What to spawn: the runtime's argv (wrapped in bwrap when the agent asks for a sandbox) and the
 * agent's environment.
 * @returns them, or why the agent cannot start (`missing`: bwrap, when that is what is missing)
 */
async function spawnInput(
  spec: LaunchSpec,
  launch: Launch,
): Promise<{ argv: string[]; env: NodeJS.ProcessEnv } | { missing?: string }> {
  const { input, adapter } = spec;
  const env = agentEnv(
    adapter.defaultEnv,
    input.agent.env,
    {
      ...spec.namespaceEnv,
      ...input.extraEnv,
      ...(input.role && input.role !== 'task' ? { FLOTILLA_ROLE: input.role } : {}),
    },
    launch.env,
  );
  if (input.agent.sandbox !== 'bwrap') return { argv: launch.argv, env };
  // Inside the sandbox a missing program is bwrap's exit 1: say "not found" as without one.
  if (!findOnPath(launch.argv[0], env.PATH ?? '', input.worktree)) return {};
  const { worktree } = input;
  try {
    return {
      argv: await sandboxArgv({
        argv: launch.argv,
        env,
        worktree,
        adapter,
        flotillaHome: spec.flotillaHome,
        // The planner reads the repository and writes only its plan file (planner.ts).
        ...(input.role === 'planner' ? plannerSandbox(input.extraEnv?.[PLAN_FILE_ENV]) : {}),
      }),
      env,
    };
  } catch (err) {
    if (err instanceof SandboxUnavailable) return { missing: err.message };
    throw err;
  }
}

/** Watches a spawned agent until its whole group is gone; records its exit in the transcript. */
async function supervise(
  spec: LaunchSpec,
  { child, pgid }: GroupProcess,
  out: TranscriptWriter,
  recorder: OutcomeRecorder,
  started: number,
): Promise<LaunchOutcome> {
  const { observer, usage } = spec;
  if (pgid > 0) writePidFile(spec.pidFile, pgid);
  observer.launched(pgid, spec.transcript);
  const errTail = new Tail(2000);
  const outputRead = readOutput(spec, child, out, recorder, errTail);
  const guard = new LaunchGuard(spec, pgid, recorder.outcome, started);
  try {
    const result = await child;
    // Whatever the agent left running in the background ends with its attempt.
    await terminateGroup(pgid, guard.ended ? 2000 : 500);
    // The process's exit can be seen before its last lines are read from the pipes: read them
    // all before the exit record, the outcome and the close (a process outside the group that
    // still holds a pipe gets OUTPUT_DRAIN_MS, not forever).
    await drained(outputRead);
    const o = recorder.outcome;
    o.exitCode = result.exitCode ?? null;
    o.ended = failedSpawn(result) ? 'not-found' : (guard.ended ?? 'exited');
    o.stderrTail = errTail.toString();
    out.record({
      type: 'flotilla.exit',
      exitCode: o.exitCode,
      signal: result.signal ?? null,
      ended: o.ended,
      durationMs: Date.now() - started,
      ...usage,
    });
    observer.beat();
    return o;
  } finally {
    guard.dispose();
    removePidFile(spec.pidFile, pgid);
    observer.idle();
    await out.close();
  }
}

/** With `reject: false`, execa resolves a failed spawn as a result carrying the errno. */
function failedSpawn(result: { exitCode?: number }): boolean {
  const failed = result as unknown as { code?: string; message?: string };
  return failed.code === 'ENOENT' || (result.exitCode === undefined && /ENOENT/.test(failed.message ?? ''));
}

/**
 * How long, after the agent's group is gone, its last output lines may take to be read (ms). Node
 * emits a child's 'exit' before its pipes are drained ("stdio streams might still be open",
 * node:child_process), and execa with `buffer: false` resolves on 'exit'.
 */
const OUTPUT_DRAIN_MS = 2000;

/** Resolves when `output` has been read, or after {@link OUTPUT_DRAIN_MS}, whichever comes first. */
function drained(output: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, OUTPUT_DRAIN_MS)));
  return Promise.race([output, late]).finally(() => clearTimeout(timer));
}

/**
 * Every output line to the transcript; each through the runtime's parser into the outcome.
 * Resolves when both pipes have ended and every line was handled.
 */
function readOutput(
  spec: LaunchSpec,
  child: GroupProcess['child'],
  out: TranscriptWriter,
  recorder: OutcomeRecorder,
  errTail: Tail,
): Promise<void> {
  const parse = spec.adapter.parser();
  const read = (stream: NodeJS.ReadableStream | null, name: 'stdout' | 'stderr'): Promise<void> => {
    if (!stream) return Promise.resolve();
    const lines = readline.createInterface({ input: stream });
    const closed = new Promise<void>((resolve) => lines.once('close', resolve));
    lines.on('line', (line) => {
      const at = Date.now();
      recorder.line(at);
      out.record({ stream: name, line });
      if (name === 'stderr') errTail.push(`${line}\n`);
      const ev = parse(line, name);
      if (ev) recorder.apply(ev);
      spec.observer.progress(recorder.outcome.events, at);
    });
    return closed;
  };
  return Promise.all([read(child.stdout, 'stdout'), read(child.stderr, 'stderr')]).then(() => undefined);
}

/**
 * Stops a running agent's group, once, for the first reason that comes: its signal aborted
 * (`cancelled`), its worktree gone (`lost`), `agent.timeoutMs` since its start (`timeout`),
 * `agent.idleTimeoutMs` since its last line (`stalled`). Checks every {@link TICK_MS}, observing
 * the launch each time.
 */
class LaunchGuard {
  /** Why the group was stopped, once it was. */
  ended: Ended | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort = (): void => this.stop('cancelled');

  constructor(
    private readonly spec: LaunchSpec,
    private readonly pgid: number,
    private readonly outcome: Pick<LaunchOutcome, 'lastEventAt'>,
    private readonly started: number,
  ) {
    const { signal, observer } = spec;
    const worktree = spec.input.worktree;
    const isGit = existsSync(path.join(worktree, '.git'));
    signal.addEventListener('abort', this.onAbort);
    // An abort that came before the listener (during a rebuild) must not be missed.
    if (signal.aborted) this.onAbort();
    observer.beat();
    this.timer = setInterval(() => {
      const now = Date.now();
      const { agent } = this.spec.input;
      // An agent whose worktree is gone can only fail or write into nowhere: stop it at once.
      if (!existsSync(worktree) || (isGit && !existsSync(path.join(worktree, '.git')))) this.stop('lost');
      else if (now - this.started > agent.timeoutMs) this.stop('timeout');
      else if (now - this.outcome.lastEventAt > agent.idleTimeoutMs) this.stop('stalled');
      else this.spec.onTick?.(now);
      observer.beat();
    }, TICK_MS);
  }

  private stop(why: Exclude<Ended, 'exited' | 'not-found'>): void {
    if (this.ended) return;
    this.ended = why;
    void terminateGroup(this.pgid);
  }

  /** Stops checking (the group is gone). */
  dispose(): void {
    clearInterval(this.timer);
    this.spec.signal.removeEventListener('abort', this.onAbort);
  }
}
