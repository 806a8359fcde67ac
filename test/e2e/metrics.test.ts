/**
 * `flotilla worker --metrics HOST:PORT` as a user runs it: the built CLI's worker on a real dev
 * server, a mission of `command` agents and a real Claude Code agent (against the stub Anthropic
 * API: it reports cost and tokens, and is rate limited once), `/metrics` scraped while the agents
 * run and after the mission, and parsed with a Prometheus text-format parser.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import parsePrometheus, { type PrometheusFamily as Family } from 'parse-prometheus-text-format';
import { CliProcess, runCli, spawnMetricsWorker } from '../helpers/cli';
import { makeRepo, tempDir } from '../helpers/git';
import { AnthropicStub, claudeEnv, RecordedRequest, reply, startAnthropicStub } from '../helpers/stub-anthropic';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let stub: AnthropicStub;
let stubEnv: Record<string, string>;
const home = tempDir('flotilla-metrics-home-');
const dir = tempDir('flotilla-metrics-');
const started: CliProcess[] = [];

const turnOf = (req: RecordedRequest): number =>
  req.messages.filter((m) => (m as { role?: string }).role === 'assistant').length;

beforeAll(async () => {
  env = await startDevServer();
  // The first model call is limited twice: Claude Code's own single retry gets the second 429 and
  // gives up, so the attempt ends rate limited; Flotilla waits the retry-after and resumes.
  let limited = 0;
  stub = await startAnthropicStub((req) =>
    turnOf(req) === 0 && limited++ < 2
      ? reply.rateLimited(1)
      : reply.text('Done.', { input_tokens: 120, output_tokens: 30 }),
  );
  stubEnv = claudeEnv(stub, tempDir('claude-home-'));
}, 180_000);

afterAll(async () => {
  for (const cli of started.splice(0)) {
    cli.kill('SIGKILL');
    await cli.result;
  }
  await stub?.close();
  await env?.teardown();
});

const cliEnv = (): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: env.address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: 'flotilla-metrics',
});

/** One scrape, parsed; also checks that no metric family appears twice (two exporters' texts joined). */
async function scrape(url: string): Promise<{ families: Map<string, Family>; bytes: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const text = await res.text();
  const ms = performance.now() - t0;
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const typeLines = text.split('\n').filter((l) => l.startsWith('# TYPE '));
  const names = typeLines.map((l) => l.split(' ')[2]);
  expect(names.length).toBe(new Set(names).size);
  const families = new Map(parsePrometheus(text).map((f) => [f.name, f]));
  return { families, bytes: Buffer.byteLength(text), ms };
}

/** The value of the sample of `name` whose labels include `labels` (summed over the others). */
function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.get(name);
  if (!f) return undefined;
  const matching = f.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return matching.length ? matching.reduce((sum, m) => sum + Number(m.value), 0) : undefined;
}

test('a bad --metrics value or a busy port: a clear error, a non-zero exit, no stack trace', async () => {
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    const [noPort, inUse] = await Promise.all([
      runCli(['worker', '--metrics', '9464'], { env: cliEnv() }),
      runCli(['worker', '--metrics', `127.0.0.1:${port}`], { env: cliEnv() }),
    ]);
    expect(noPort.code).toBe(2);
    expect(noPort.stderr).toMatch(/"9464" has no port; expected HOST:PORT, e\.g\. 127\.0\.0\.1:9464/);
    expect(noPort.stderr).not.toMatch(/\n\s+at /);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain(
      `flotilla: --metrics: cannot serve metrics on 127.0.0.1:${port}: the port is in use`,
    );
    expect(inUse.stderr).not.toMatch(/\n\s+at /);
  } finally {
    busy.close();
  }
});

test("the worker's /metrics shows agents running during a mission, then attempts, cost, verify runs, merges and the SDK's metrics", async () => {
  const { worker, port } = await spawnMetricsWorker({ env: { ...cliEnv(), ...stubEnv }, timeoutMs: 120_000 });
  started.push(worker);
  const url = `http://127.0.0.1:${port}/metrics`;
  expect(worker.stdout() + worker.stderr()).toContain(`metrics at ${url}`);

  const idle = await scrape(url);
  const go = path.join(dir, 'slow.go');
  const tried = path.join(dir, 'flaky.tried');
  const file = path.join(dir, 'metrics.json');
  writeFileSync(
    file,
    JSON.stringify({
      id: 'metrics',
      repo: makeRepo(),
      concurrency: 3,
      agent: { runtime: 'command', retries: 1 },
      verify: ['true'],
      tasks: [
        {
          id: 'slow',
          prompt: 'wait for the go file',
          agent: { command: ['bash', '-c', `while [ ! -f ${go} ]; do sleep 0.1; done; echo slow > slow.txt`] },
          verify: ['test -f slow.txt'],
        },
        {
          id: 'flaky',
          prompt: 'fail once',
          agent: { command: ['bash', '-c', `[ -f ${tried} ] || { touch ${tried}; exit 3; }; echo f > flaky.txt`] },
        },
        {
          id: 'talk',
          prompt: 'say done',
          agent: {
            runtime: 'claude',
            model: 'claude-sonnet-4-5',
            env: Object.keys(stubEnv).filter((k) => !['PATH', 'HOME', 'TMPDIR', 'LANG'].includes(k)),
          },
        },
      ],
    }),
  );
  const start = await runCli(['start', file], { env: cliEnv() });
  expect(start.code).toBe(0);

  // During the mission: the slow agent runs until the go file appears.
  let during = await scrape(url);
  const deadline = Date.now() + 30_000;
  while ((value(during.families, 'flotilla_agents_running', { runtime: 'command' }) ?? 0) < 1) {
    if (Date.now() > deadline) throw new Error('no scrape showed a command agent running');
    await new Promise((r) => setTimeout(r, 100));
    during = await scrape(url);
  }
  expect(
    value(during.families, 'flotilla_agents_running', { runtime: 'command', role: 'task' }),
  ).toBeGreaterThanOrEqual(1);
  writeFileSync(go, '');

  const watch = await runCli(['watch', 'metrics'], { env: cliEnv(), timeoutMs: 90_000 });
  expect(watch.stdout).toMatch(/mission metrics completed/);
  expect(watch.code).toBe(0);

  const after = await scrape(url);
  const f = after.families;
  const attempts = (labels: Record<string, string>) => value(f, 'flotilla_agent_attempts_total', labels);
  expect(attempts({ runtime: 'command', outcome: 'succeeded', failure_class: 'none' })).toBe(2);
  expect(attempts({ runtime: 'command', outcome: 'failed', failure_class: 'AgentExit' })).toBe(1);
  expect(attempts({ runtime: 'claude', outcome: 'failed', failure_class: 'AgentRateLimited' })).toBe(1);
  expect(attempts({ runtime: 'claude', outcome: 'succeeded' })).toBe(1);
  expect(value(f, 'flotilla_agents_running')).toBe(0);
  expect(value(f, 'flotilla_rate_limit_waits_total', { runtime: 'claude' })).toBe(1);
  expect(value(f, 'flotilla_rate_limit_wait_seconds_total', { runtime: 'claude' })).toBeGreaterThan(0);
  const claude = { runtime: 'claude', model: 'claude-sonnet-4-5' };
  expect(value(f, 'flotilla_agent_cost_usd_total', claude)).toBeGreaterThan(0);
  expect(value(f, 'flotilla_agent_tokens_total', { ...claude, type: 'input' })).toBeGreaterThan(0);
  expect(value(f, 'flotilla_agent_tokens_total', { ...claude, type: 'output' })).toBeGreaterThan(0);
  expect(value(f, 'flotilla_verify_runs_total', { scope: 'task', outcome: 'passed' })).toBe(1);
  expect(value(f, 'flotilla_verify_runs_total', { scope: 'mission', outcome: 'passed' })).toBeGreaterThanOrEqual(1);
  expect(value(f, 'flotilla_merges_total', { outcome: 'merged' })).toBe(2);
  // The claude task changed nothing: its branch is already in the integration branch.
  expect(value(f, 'flotilla_merges_total', { outcome: 'already_merged' })).toBe(1);
  // The workflow's metric, exported by the SDK: the queue is empty once everything merged.
  expect(value(f, 'flotilla_merge_queue_length', { mission_id: 'metrics' })).toBe(0);
  expect(value(f, 'flotilla_sdk_metrics_up')).toBe(1);
  // The SDK runtime's own: polls, activity latencies, workflow completions.
  // (The parser folds a histogram's label sets into one sample: only its buckets are read here.)
  const latency = f.get('temporal_activity_execution_latency');
  expect(latency?.type).toBe('HISTOGRAM');
  expect(Number(latency?.metrics[0].buckets?.['+Inf'])).toBeGreaterThan(0);
  expect(value(f, 'temporal_workflow_completed', { workflow_type: 'missionWorkflow' })).toBe(1);
  expect(f.has('temporal_num_pollers')).toBe(true);
  expect(f.has('process_resident_memory_bytes')).toBe(true);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push((await scrape(url)).ms);
  const median = times.sort((a, b) => a - b)[2];
  console.log(
    `metrics scrape: idle ${idle.bytes} B (${idle.families.size} families); during the mission ${during.bytes} B; ` +
      `after it ${after.bytes} B (${f.size} families), median of 5 scrapes ${median.toFixed(1)} ms`,
  );

  // Ctrl-C: the worker stops and so does its endpoint.
  worker.kill('SIGINT');
  const stopped = await worker.result;
  expect(stopped.code).toBe(0);
  await expect(fetch(url)).rejects.toThrow();
});
