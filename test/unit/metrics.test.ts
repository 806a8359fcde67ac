/**
 * `flotilla worker --metrics`: the address it takes, what the activity interceptor records (real
 * activities in the SDK's MockActivityEnvironment, real agent processes, a real prom-client
 * registry), that a metrics error never reaches an activity, and the endpoint's own answers.
 * The whole worker with the SDK's metrics is test/e2e/metrics.test.ts.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import net from 'node:net';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import type { RunAgentInput, RunAgentResult } from '../../src/agents/types';
import { ErrorType } from '../../src/mission/error-types';
import { formatListenAddress, parseListenAddress } from '../../src/worker/metrics-address';
import { FlotillaMetrics, usageDelta } from '../../src/worker/metrics';
import { MetricsListenError, startMetricsServer } from '../../src/worker/metrics-server';
import { git, makeRepo, tempDir } from '../helpers/git';
import { bashAgent } from '../helpers/missions';
import { runActivity, worktreeInput } from '../helpers/activities';

describe('--metrics HOST:PORT', () => {
  test.each([
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    ['localhost:80', { host: 'localhost', port: 80 }],
    ['0.0.0.0:9464', { host: '0.0.0.0', port: 9464 }],
    ['[::1]:9464', { host: '::1', port: 9464 }],
    [':9464', { host: undefined, port: 9464 }],
    [' worker-1.example:65535 ', { host: 'worker-1.example', port: 65535 }],
  ])('%s is good', (value, expected) => {
    expect(parseListenAddress(value)).toEqual(expected);
  });

  test.each([
    ['9464', /"9464" has no port/],
    ['127.0.0.1', /has no port/],
    ['[::1]', /has no port/],
    ['', /the address is empty/],
    ['host:0', /the port 0 is outside 1\.\.65535/],
    ['host:70000', /the port 70000 is outside 1\.\.65535/],
    ['host:http', /the port "http" is not a number/],
    ['host:9464/metrics', /the port "9464\/metrics" is not a number/],
    ['::1:9464', /an IPv6 address goes in brackets/],
    ['user@host:9464', /"user@host" is not a host name or IP address/],
    ['a b:9464', /"a b" is not a host name or IP address/],
  ])('%j is refused, saying why and what a good value looks like', (value, why) => {
    expect(() => parseListenAddress(value)).toThrow(why);
    expect(() => parseListenAddress(value)).toThrow(/expected HOST:PORT, e\.g\. 127\.0\.0\.1:9464/);
  });

  test('formats back as a URL authority', () => {
    expect(formatListenAddress({ host: '::1', port: 1 })).toBe('[::1]:1');
    expect(formatListenAddress({ host: undefined, port: 2 })).toBe('0.0.0.0:2');
  });
});

/** The value of `name` for the label set that includes `labels`, summed; 0 when none. */
async function metricValue(m: FlotillaMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await m.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('the activity interceptor', () => {
  const home = tempDir('flotilla-metrics-home-');
  const acts = createActivities({ home, hostQueue: 'q@test' });
  const runId = '0190abab-bbbb-7ccc-8ddd-eeeeeeeeeeee';

  /** Runs `fn(arg)` as activity `type` in a mock context, through the interceptor. */
  function intercepted<R>(
    m: FlotillaMetrics,
    type: string,
    fn: (arg: never) => Promise<R>,
    arg: unknown,
    opts: { attempt?: number; heartbeatDetails?: unknown } = {},
  ): Promise<R> {
    const env = new MockActivityEnvironment({ activityType: type, ...opts });
    return env.run(async () => {
      const ctx = Context.current();
      const execute = m.activityInterceptor(ctx).inbound!.execute!;
      return execute({ args: [arg], headers: {} }, async (input) => fn(input.args[0] as never)) as Promise<R>;
    }) as Promise<R>;
  }

  function agentInput(worktree: string, script: string, extra: Partial<RunAgentInput> = {}): RunAgentInput {
    return {
      missionId: 'm',
      taskId: path.basename(worktree),
      worktree,
      branch: 'flotilla/m/tasks/t',
      baseSha: 'HEAD',
      agent: bashAgent(script),
      prompt: 'do it',
      taskPrompt: 'do it',
      iteration: 1,
      ...extra,
    };
  }

  async function worktree(repo: string, taskId: string): Promise<string> {
    const wt = await runActivity(
      acts.prepareWorktree,
      worktreeInput(repo, 'm', taskId, git(repo, 'rev-parse', 'main'), { runId }),
    );
    return wt.worktree;
  }

  test('real agent attempts and checks: running while they run, then attempts and verify runs by outcome', async () => {
    const m = new FlotillaMetrics({ processMetrics: false });
    const repo = makeRepo();
    const wt = await worktree(repo, 'interceptor');
    let runningSeen = -1;
    const agent = intercepted(m, 'runAgent', acts.runAgent, agentInput(wt, 'sleep 0.5; echo done'));
    await new Promise((r) => setTimeout(r, 200));
    runningSeen = await metricValue(m, 'flotilla_agents_running', { runtime: 'command', role: 'task' });
    await agent;
    expect(runningSeen).toBe(1);
    await expect(
      intercepted(m, 'runAgent', acts.runAgent, agentInput(wt, 'echo no >&2; exit 7')),
    ).rejects.toMatchObject({ type: ErrorType.AgentExit });
    expect(await metricValue(m, 'flotilla_agents_running')).toBe(0);
    expect(await metricValue(m, 'flotilla_agent_attempts_total', { outcome: 'succeeded', failure_class: 'none' })).toBe(
      1,
    );
    expect(
      await metricValue(m, 'flotilla_agent_attempts_total', { outcome: 'failed', failure_class: 'AgentExit' }),
    ).toBe(1);

    const checks = (commands: string[]) =>
      intercepted(m, 'runChecks', acts.runChecks, {
        cwd: wt,
        commands,
        timeoutMs: 10_000,
        logFile: path.join(home, 'checks.log'),
      });
    expect((await checks(['true'])).ok).toBe(true);
    expect((await checks(['false'])).ok).toBe(false);
    expect(await metricValue(m, 'flotilla_verify_runs_total', { scope: 'task', outcome: 'passed' })).toBe(1);
    expect(await metricValue(m, 'flotilla_verify_runs_total', { scope: 'task', outcome: 'failed' })).toBe(1);
  });

  test('cost and tokens count only what the attempt added; a rate limit counts its wait; a cancellation is no failure', async () => {
    const m = new FlotillaMetrics({ processMetrics: false });
    const input = agentInput('/nowhere', 'true', { agent: { ...bashAgent('true'), runtime: 'claude', model: 'opus' } });
    const result = (usage: Partial<RunAgentResult>) => async () =>
      ({ costUsd: 0, inputTokens: 0, outputTokens: 0, turns: 0, ...usage }) as RunAgentResult;
    // A retried attempt starts from the last heartbeat's counters: only the rest is this attempt's.
    const heartbeat = { attempt: 1, costUsd: 0.5, inputTokens: 100, outputTokens: 10, turns: 1, sessionId: 's' };
    await intercepted(m, 'runAgent', result({ costUsd: 0.75, inputTokens: 160, outputTokens: 25 }), input, {
      attempt: 2,
      heartbeatDetails: heartbeat,
    });
    const labels = { runtime: 'claude', model: 'opus' };
    expect(await metricValue(m, 'flotilla_agent_cost_usd_total', labels)).toBeCloseTo(0.25, 9);
    expect(await metricValue(m, 'flotilla_agent_tokens_total', { ...labels, type: 'input' })).toBe(60);
    expect(await metricValue(m, 'flotilla_agent_tokens_total', { ...labels, type: 'output' })).toBe(15);

    const limited = ApplicationFailure.create({
      message: 'rate limited: 429',
      type: ErrorType.AgentRateLimited,
      nonRetryable: true,
      details: [{ attempt: 1, costUsd: 0.1, inputTokens: 5, outputTokens: 0, turns: 0, retryAfterMs: 30_000 }],
    });
    await expect(intercepted(m, 'runAgent', () => Promise.reject(limited), input)).rejects.toBe(limited);
    expect(await metricValue(m, 'flotilla_rate_limit_waits_total', { runtime: 'claude' })).toBe(1);
    expect(await metricValue(m, 'flotilla_rate_limit_wait_seconds_total', { runtime: 'claude' })).toBe(30);
    expect(await metricValue(m, 'flotilla_agent_cost_usd_total', labels)).toBeCloseTo(0.35, 9);
    expect(
      await metricValue(m, 'flotilla_agent_attempts_total', { outcome: 'failed', failure_class: 'AgentRateLimited' }),
    ).toBe(1);

    const cancelled = new CancelledFailure('agent cancelled');
    await expect(intercepted(m, 'runAgent', () => Promise.reject(cancelled), input)).rejects.toBe(cancelled);
    expect(await metricValue(m, 'flotilla_agent_attempts_total', { outcome: 'cancelled', failure_class: 'none' })).toBe(
      1,
    );
    const unknown = new Error('boom');
    await expect(intercepted(m, 'runAgent', () => Promise.reject(unknown), input)).rejects.toBe(unknown);
    expect(await metricValue(m, 'flotilla_agent_attempts_total', { outcome: 'failed', failure_class: 'other' })).toBe(
      1,
    );
    expect(await metricValue(m, 'flotilla_agents_running')).toBe(0);
  });

  test('merges by outcome, and activities it does not know pass through untouched', async () => {
    const m = new FlotillaMetrics({ processMetrics: false });
    await intercepted(m, 'queueMerge', async () => ({ status: 'merged', sha: 'a', alreadyMerged: false }), {});
    await intercepted(m, 'queueMerge', async () => ({ status: 'merged', sha: 'a', alreadyMerged: true }), {});
    await intercepted(m, 'queueMerge', async () => ({ status: 'conflict', files: ['x'], message: 'm' }), {});
    await expect(intercepted(m, 'queueMerge', () => Promise.reject(new Error('git')), {})).rejects.toThrow('git');
    for (const outcome of ['merged', 'already_merged', 'conflict', 'error'])
      expect(await metricValue(m, 'flotilla_merges_total', { outcome })).toBe(1);
    expect(await intercepted(m, 'claimHost', async () => 'host-1', {})).toBe('host-1');
  });

  test('a metrics error never fails an activity, and is reported once', async () => {
    const errors: unknown[] = [];
    const m = new FlotillaMetrics({ processMetrics: false, onError: (e) => errors.push(e) });
    m.agentsRunning.inc = () => {
      throw new Error('registry broken');
    };
    m.attempts.inc = () => {
      throw new Error('registry broken too');
    };
    const input = agentInput('/nowhere', 'true');
    const ok = { costUsd: 0, inputTokens: 0, outputTokens: 0, turns: 0 } as RunAgentResult;
    await expect(intercepted(m, 'runAgent', async () => ok, input)).resolves.toBe(ok);
    const failure = ApplicationFailure.create({ message: 'exit 1', type: ErrorType.AgentExit });
    await expect(intercepted(m, 'runAgent', () => Promise.reject(failure), input)).rejects.toBe(failure);
    // Input the interceptor cannot read (no agent) is the activity's business, not the metrics'.
    await expect(intercepted(m, 'runAgent', async () => 'fine', undefined)).resolves.toBe('fine');
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('registry broken');
  });

  test('usageDelta never goes negative and reads missing fields as zero', () => {
    const start = { turns: 1, costUsd: 0.5, inputTokens: 10, outputTokens: 5 };
    expect(usageDelta(start, { costUsd: 0.25, inputTokens: 15 })).toEqual({
      turns: 0,
      costUsd: 0,
      inputTokens: 5,
      outputTokens: 0,
    });
    expect(usageDelta(start, undefined)).toEqual({ turns: 0, costUsd: 0, inputTokens: 0, outputTokens: 0 });
  });
});

describe('the endpoint', () => {
  test("answers /metrics with Flotilla's metrics (the SDK's part marked down when its exporter is away), / with a pointer, others 404", async () => {
    const m = new FlotillaMetrics({ processMetrics: false });
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, m);
    try {
      // An address nothing listens on: the scrape still answers, without the SDK's part.
      const closed = net.createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      server.sdkAddress = `127.0.0.1:${(closed.address() as net.AddressInfo).port}`;
      await new Promise<void>((r) => closed.close(() => r()));
      const res = await fetch(server.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(text).toContain('# TYPE flotilla_agent_attempts_total counter');
      expect(text).toMatch(/^flotilla_sdk_metrics_up 0$/m);
      expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(200);
      expect((await fetch(server.url.replace('/metrics', '/nope'))).status).toBe(404);
      expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  test('a port in use is a MetricsListenError that says so', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const err = await startMetricsServer(
        { host: '127.0.0.1', port },
        new FlotillaMetrics({ processMetrics: false }),
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MetricsListenError);
      expect(err).toMatchObject({ code: 'EADDRINUSE' });
      expect((err as Error).message).toBe(
        `cannot serve metrics on 127.0.0.1:${port}: the port is in use by another process; choose a free port (or stop that process)`,
      );
    } finally {
      busy.close();
    }
  });
});
