/**
 * One launch of an agent CLI: its process group in the task's worktree, every raw output line to
 * the transcript, events parsed into the attempt's usage (through the usage ledger's RunMeter), and
 * the group killed on cancellation, on `timeout`, on `idleTimeout` (stalled) and when the worktree
 * vanishes under it.
 */
import type { Context } from '@temporalio/activity';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { RunMeter } from '../mission/usage';
import type { AttemptCheckpoints } from './agent-checkpoints';
import type { AgentUsage, RunAgentInput } from './agent-types';
import { agentEnv } from './environment';
import type { AgentHeartbeater } from './heartbeat';
import { removePidFile, spawnGroup, Tail, terminateGroup, writePidFile } from './process';
import { findOnPath } from './programs';
import { resolverContract, taskContract } from './runtimes/contract';
import type { AgentEvent, Launch, RuntimeAdapter } from './runtimes/types';
import { sandboxArgv, SandboxUnavailable } from './sandbox';
import { TranscriptWriter } from './transcript';

/** How often a running agent is checked (timeouts, a lost worktree) and heartbeats, ms. */
const TICK_MS = 1000;

export interface LaunchSpec {
  adapter: RuntimeAdapter;
  input: RunAgentInput;
  prompt: string;
  /** True: continue `usage.sessionId`, whose totals so far are in `usage`. */
  resume: boolean;
  /** The attempt's live usage; updated after every event. */
  usage: AgentUsage;
  transcript: string;
  /** Where the group's id is recorded, so a later attempt can kill a group a dead worker left. */
  pidFile: string;
  attempt: number;
  ctx: Pick<Context, 'cancellationSignal' | 'log'>;
  heartbeat: AgentHeartbeater;
  checkpoints: Pick<AttemptCheckpoints, 'tick'>;
  /** `$FLOTILLA_HOME`: hidden from a sandboxed agent (`agent.sandbox: bwrap`). */
  flotillaHome: string;
}

/** How a launch ended. `lost`: the worktree vanished while the agent ran. */
export type Ended = 'exited' | 'timeout' | 'stalled' | 'cancelled' | 'not-found' | 'lost';

export interface LaunchOutcome {
  exitCode: number | null;
  ended: Ended;
  errors: string[];
  stderrTail: string;
  /** The agent's final words, at most 500 characters (redacted where they leave: the worker's boundary). */
  summary: string;
  events: number;
  /** The agent's result said it failed (Claude's `is_error`). */
  resultError: boolean;
  /** The last retry delay the agent's API asked for, ms. */
  retryAfterMs?: number;
  /** When the agent last wrote an event, epoch ms (its launch when it wrote none). */
  lastEventAt: number;
  /** With `ended: 'not-found'`: what is missing and how to install it, when it is not the agent program. */
  missing?: string;
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
    { ...input.extraEnv, ...(input.role === 'resolver' ? { FLOTILLA_ROLE: 'resolver' } : {}) },
    launch.env,
  );
  if (input.agent.sandbox !== 'bwrap') return { argv: launch.argv, env };
  // Inside the sandbox a missing program is bwrap's exit 1: say "not found" as without one.
  if (!findOnPath(launch.argv[0], env.PATH ?? '', input.worktree)) return {};
  const { worktree } = input;
  try {
    return {
      argv: await sandboxArgv({ argv: launch.argv, env, worktree, adapter, flotillaHome: spec.flotillaHome }),
      env,
    };
  } catch (err) {
    if (err instanceof SandboxUnavailable) return { missing: err.message };
    throw err;
  }
}

/** Runs the agent once and resolves when its whole group is gone. Never throws for the agent's failures. */
export async function launchAgent(spec: LaunchSpec): Promise<LaunchOutcome> {
  const { adapter, input, usage, ctx, heartbeat, checkpoints } = spec;
  const resumeSessionId = spec.resume ? usage.sessionId : null;
  const launch = adapter.build({
    agent: input.agent,
    prompt: spec.prompt,
    worktree: input.worktree,
    missionId: input.missionId,
    taskId: input.taskId,
    resumeSessionId: resumeSessionId ?? undefined,
    contract:
      input.role === 'resolver'
        ? resolverContract(input.taskId, input.branch, input.worktree)
        : taskContract(input.taskId, input.branch, input.worktree),
  });
  const out = new TranscriptWriter(
    spec.transcript,
    (err) => ctx.log.warn('transcript write failed; the agent runs on without it', { error: err.message }),
    input.agent.env,
  );
  out.record({
    type: 'flotilla.attempt',
    attempt: spec.attempt,
    iteration: input.iteration,
    runtime: input.agent.runtime,
    ...(input.role === 'resolver' ? { role: 'resolver' } : {}),
    resume: resumeSessionId,
    argv0: launch.argv[0],
    ...(input.agent.sandbox ? { sandbox: input.agent.sandbox } : {}),
  });

  const started = Date.now();
  const meter = new RunMeter(usage, spec.resume);
  const o: LaunchOutcome = {
    exitCode: null,
    ended: 'exited',
    errors: [],
    stderrTail: '',
    summary: '',
    events: 0,
    resultError: false,
    lastEventAt: started,
  };
  let lastEventAt = started;
  const apply = (ev: AgentEvent): void => {
    o.events++;
    meter.apply(ev);
    if (ev.retryAfterMs !== undefined) o.retryAfterMs = ev.retryAfterMs;
    if (ev.kind === 'error' || ev.isError) o.errors.push(ev.text);
    if (ev.kind === 'result') {
      o.resultError = !!ev.isError;
      o.summary = ev.text.replace(/^(done|error)[^:]*: /, '').slice(0, 500);
    } else if (ev.kind === 'text' && ev.text && !ev.text.startsWith('[stderr]')) o.summary = ev.text.slice(0, 500);
  };

  const spawning = await spawnInput(spec, launch);
  if (!('argv' in spawning)) {
    await out.close();
    return { ...o, ended: 'not-found', ...spawning };
  }

  let proc: ReturnType<typeof spawnGroup>;
  try {
    proc = spawnGroup(spawning.argv, {
      cwd: input.worktree,
      env: spawning.env,
      // Agents run for hours and their task may move to another host: never let one outlive its worker.
      watchdog: true,
    });
  } catch {
    await out.close();
    return { ...o, ended: 'not-found' };
  }
  const { child, pgid } = proc;
  if (pgid > 0) writePidFile(spec.pidFile, pgid);
  heartbeat.launched(pgid, spec.transcript);
  const errTail = new Tail(2000);
  const isGit = existsSync(path.join(input.worktree, '.git'));
  const parse = adapter.parser();
  const read = (stream: NodeJS.ReadableStream | null, name: 'stdout' | 'stderr'): void => {
    if (!stream) return;
    readline.createInterface({ input: stream }).on('line', (line) => {
      lastEventAt = Date.now();
      out.record({ stream: name, line });
      if (name === 'stderr') errTail.push(`${line}\n`);
      const ev = parse(line, name);
      if (ev) apply(ev);
      heartbeat.progress(o.events, lastEventAt);
    });
  };
  read(child.stdout, 'stdout');
  read(child.stderr, 'stderr');

  let ended: Ended | undefined;
  const stop = (why: 'timeout' | 'stalled' | 'cancelled' | 'lost'): void => {
    if (ended) return;
    ended = why;
    void terminateGroup(pgid);
  };
  const onCancel = (): void => stop('cancelled');
  ctx.cancellationSignal.addEventListener('abort', onCancel);
  // A cancellation that arrived before the listener (during a rebuild) must not be missed.
  if (ctx.cancellationSignal.aborted) onCancel();
  heartbeat.beat();
  const tick = setInterval(() => {
    const now = Date.now();
    // An agent whose worktree is gone can only fail or write into nowhere: stop it at once.
    if (!existsSync(input.worktree) || (isGit && !existsSync(path.join(input.worktree, '.git')))) stop('lost');
    else if (now - started > input.agent.timeoutMs) stop('timeout');
    else if (now - lastEventAt > input.agent.idleTimeoutMs) stop('stalled');
    else checkpoints.tick(now);
    heartbeat.beat();
  }, TICK_MS);

  try {
    const result = await child;
    // Whatever the agent left running in the background ends with its attempt.
    await terminateGroup(pgid, ended ? 2000 : 500);
    // With `reject: false`, execa resolves a failed spawn as a result carrying the errno.
    const failedSpawn = result as unknown as { code?: string; message?: string };
    if (failedSpawn.code === 'ENOENT' || (result.exitCode === undefined && /ENOENT/.test(failedSpawn.message ?? ''))) {
      ended = 'not-found';
    }
    o.exitCode = result.exitCode ?? null;
    o.ended = ended ?? 'exited';
    o.stderrTail = errTail.toString();
    o.lastEventAt = lastEventAt;
    out.record({
      type: 'flotilla.exit',
      exitCode: o.exitCode,
      signal: result.signal ?? null,
      ended: o.ended,
      durationMs: Date.now() - started,
      ...usage,
    });
    heartbeat.beat();
    return o;
  } finally {
    clearInterval(tick);
    ctx.cancellationSignal.removeEventListener('abort', onCancel);
    removePidFile(spec.pidFile, pgid);
    heartbeat.idle();
    await out.close();
  }
}
