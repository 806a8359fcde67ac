/**
 * Runs one attempt of a task's agent: a process group in the task's worktree, every output line
 * to a transcript file, heartbeats every ~2 s (details: pgid, events, lastEventAt), and the whole
 * group killed on cancellation, on `timeout` and on `idleTimeout` (stalled). A group an earlier
 * attempt left behind (its worker died) is killed first, so two agents never share a worktree.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { createWriteStream, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { AgentSpec } from '../mission/types';
import { formatDuration } from '../mission/duration';
import { ActivityConfig, paths } from './config';
import { killStaleGroup, removePidFile, spawnGroup, Tail, terminateGroup, writePidFile } from './process';
import { runtimes } from './runtimes';

export interface RunAgentInput {
  missionId: string;
  taskId: string;
  worktree: string;
  agent: AgentSpec;
  prompt: string;
  /** Gate iteration (1 = the task's own prompt). */
  iteration: number;
}

export interface RunAgentResult {
  /** The Temporal attempt of this activity (1 = first try). */
  attempt: number;
  exitCode: number;
  durationMs: number;
  /** Absolute path of this attempt's transcript (JSON lines). */
  transcript: string;
  /** The agent's last line of output, at most 500 characters. */
  summary: string;
  events: number;
  sessionId: string | null;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
}

/** Details each heartbeat carries; a retry reads the last ones (`Context.info.heartbeatDetails`). */
export interface AgentHeartbeat {
  pgid: number;
  attempt: number;
  events: number;
  lastEventAt: string;
  transcript: string;
}

/** Variables every agent gets from the worker besides the ones the mission names. */
const BASELINE_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'TERM'];

function nextTranscript(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const used = readdirSync(dir)
    .map((f) => /^attempt-(\d+)\.jsonl$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  return path.join(dir, `attempt-${used.length === 0 ? 1 : Math.max(...used) + 1}.jsonl`);
}

export function createAgentActivities(config: ActivityConfig) {
  return {
    /**
     * @throws non-retryable `AgentNotFound` (program missing) or `RuntimeUnavailable`;
     *   retryable `AgentExit` (non-zero exit), `AgentTimeout`, `AgentStalled`; `CancelledFailure`
     *   after killing the group when the activity is cancelled
     */
    async runAgent(input: RunAgentInput): Promise<RunAgentResult> {
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      const adapter = runtimes[input.agent.runtime];
      if (!adapter) {
        throw ApplicationFailure.nonRetryable(
          `runtime "${input.agent.runtime}" is not available in this version of Flotilla; use runtime: command`,
          'RuntimeUnavailable',
          { attempt },
        );
      }
      const runDir = paths.runDir(config.home, input.missionId, input.taskId);
      const pidFile = path.join(runDir, 'agent.pid');
      const stale = await killStaleGroup(pidFile);
      if (stale) ctx.log.warn('killed an agent process group left by an earlier attempt', { pgid: stale });

      const launch = adapter.build({
        agent: input.agent,
        prompt: input.prompt,
        worktree: input.worktree,
        missionId: input.missionId,
        taskId: input.taskId,
      });
      const env: NodeJS.ProcessEnv = {};
      for (const name of [...BASELINE_ENV, ...input.agent.env])
        if (process.env[name] !== undefined) env[name] = process.env[name];
      Object.assign(env, launch.env);

      const transcript = nextTranscript(runDir);
      const out = createWriteStream(transcript, { flags: 'a' });
      const record = (obj: Record<string, unknown>): void =>
        void out.write(`${JSON.stringify({ ts: new Date().toISOString(), ...obj })}\n`);
      record({
        type: 'flotilla.attempt',
        attempt,
        iteration: input.iteration,
        argv0: launch.argv[0],
        runtime: input.agent.runtime,
      });

      const started = Date.now();
      let lastEventAt = started;
      let events = 0;
      let summary = '';
      const errTail = new Tail(1500);
      let proc: ReturnType<typeof spawnGroup>;
      try {
        proc = spawnGroup(launch.argv, { cwd: input.worktree, env, extendEnv: false });
      } catch (err) {
        out.end();
        throw agentNotFound(launch.argv[0], attempt, err);
      }
      const { child, pgid } = proc;
      if (pgid > 0) writePidFile(pidFile, pgid);
      const read = (stream: NodeJS.ReadableStream | null, name: 'stdout' | 'stderr'): void => {
        if (!stream) return;
        readline.createInterface({ input: stream }).on('line', (line) => {
          lastEventAt = Date.now();
          record({ stream: name, line });
          if (name === 'stderr') errTail.push(`${line}\n`);
          const ev = adapter.parseLine(line, name);
          if (ev) {
            events++;
            if (name === 'stdout') summary = ev.text.slice(0, 500);
          }
        });
      };
      read(child.stdout, 'stdout');
      read(child.stderr, 'stderr');

      let ended: 'timeout' | 'stalled' | 'cancelled' | undefined;
      const stop = (why: 'timeout' | 'stalled' | 'cancelled'): void => {
        if (ended) return;
        ended = why;
        void terminateGroup(pgid);
      };
      const onCancel = (): void => stop('cancelled');
      ctx.cancellationSignal.addEventListener('abort', onCancel);
      const tick = setInterval(() => {
        const now = Date.now();
        if (now - started > input.agent.timeoutMs) stop('timeout');
        else if (now - lastEventAt > input.agent.idleTimeoutMs) stop('stalled');
        const details: AgentHeartbeat = {
          pgid,
          attempt,
          events,
          lastEventAt: new Date(lastEventAt).toISOString(),
          transcript,
        };
        ctx.heartbeat(details);
      }, 1000);

      try {
        const result = await child;
        // Whatever the agent left running in the background ends with its attempt.
        await terminateGroup(pgid, ended ? 2000 : 500);
        // With `reject: false`, execa resolves a failed spawn as a result carrying the errno.
        const failedSpawn = result as unknown as { code?: string; message?: string };
        if (
          failedSpawn.code === 'ENOENT' ||
          (result.exitCode === undefined && /ENOENT/.test(failedSpawn.message ?? ''))
        ) {
          throw agentNotFound(launch.argv[0], attempt);
        }
        const durationMs = Date.now() - started;
        record({
          type: 'flotilla.exit',
          exitCode: result.exitCode ?? null,
          signal: result.signal ?? null,
          ended: ended ?? 'exited',
          durationMs,
        });
        if (ended === 'cancelled') throw new CancelledFailure('agent cancelled; its process group was killed');
        if (ended === 'timeout') {
          throw ApplicationFailure.retryable(
            `agent attempt timed out after ${formatDuration(input.agent.timeoutMs)} (timeout); its process group was killed`,
            'AgentTimeout',
            { attempt },
          );
        }
        if (ended === 'stalled') {
          throw ApplicationFailure.retryable(
            `agent stalled: no output for ${formatDuration(input.agent.idleTimeoutMs)} (idleTimeout); its process group was killed`,
            'AgentStalled',
            { attempt },
          );
        }
        if (result.exitCode !== 0) {
          const tail = errTail.toString().trim();
          throw ApplicationFailure.retryable(
            `agent exited with code ${result.exitCode}${tail ? `: ${tail.split('\n').slice(-5).join(' | ')}` : ''}`,
            'AgentExit',
            { attempt },
          );
        }
        return {
          attempt,
          exitCode: 0,
          durationMs,
          transcript,
          summary,
          events,
          sessionId: null,
          costUsd: 0,
          inputTokens: 0,
          outputTokens: 0,
        };
      } finally {
        clearInterval(tick);
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
        removePidFile(pidFile, pgid);
        await new Promise<void>((resolve) => out.end(resolve));
      }
    },
  };
}

function agentNotFound(program: string, attempt: number, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    message: `agent program not found: ${program}; install it or fix agent.command in the mission file${cause instanceof Error ? ` (${cause.message})` : ''}`,
    type: 'AgentNotFound',
    nonRetryable: true,
    details: [{ attempt }],
  });
}
