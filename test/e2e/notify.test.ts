/**
 * `notify:` as a user meets it, with the real CLI and `flotilla worker` processes on a real dev
 * server, and a webhook receiver on 127.0.0.1: a mission blocks (its verify fails under
 * `onVerifyFailure: pause`), is resumed and completes; the worker is SIGKILLed while the `blocked`
 * POST is in flight (the receiver holds its answer), and the retry from the next worker carries
 * the same Idempotency-Key. Each event is delivered exactly once, the command notifier gets the
 * JSON on stdin, and the webhook's URL (named by `{ env: HOOK_URL }`) is nowhere in history. A
 * literal URL with a token in it is refused by `validate` (exit 2). `flotilla land` sends `landed`.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { CliProcess, runCli, spawnCli } from '../helpers/cli';
import { makeRepo, tempDir } from '../helpers/git';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
const home = tempDir('flotilla-notify-home-');
const dir = tempDir('flotilla-notify-');
const workers: CliProcess[] = [];

interface Received {
  key: string;
  body: { mission: string; event: string; reason: string | null; next: string[]; text: string; key: string };
  /** The status the receiver answered with (null: none, the worker died first). */
  answered: number | null;
}
const received: Received[] = [];
let onRequest: (r: Received, res: http.ServerResponse) => void = (_r, res) => res.end('ok');
let server: http.Server;
let hookUrl: string;

beforeAll(async () => {
  env = await startDevServer();
  server = http.createServer((req, res) => {
    let data = '';
    req.setEncoding('utf8').on('data', (c: string) => (data += c));
    req.on('end', () => {
      const r: Received = { key: String(req.headers['idempotency-key']), body: JSON.parse(data), answered: null };
      received.push(r);
      res.on('finish', () => (r.answered = res.statusCode));
      onRequest(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // A path that looks like a token, as a Slack webhook's does: the secret that must stay out of history.
  hookUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/T0SECRET9/x7Kq2pLm9Vb4Nc8Zr1Wd`;
}, 180_000);

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.result));
  server?.closeAllConnections();
  server?.close();
  await env?.teardown();
});

const cliEnv = (): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: env.address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: 'flotilla-notify',
});
const flotilla = (args: string[]) => runCli(args, { env: cliEnv(), timeoutMs: 180_000 });
const startWorker = async (): Promise<CliProcess> => {
  const w = spawnCli(['worker'], { env: { ...cliEnv(), HOOK_URL: hookUrl }, timeoutMs: 600_000 });
  workers.push(w);
  await w.waitFor(/task queues/);
  return w;
};

async function until<T>(what: string, pred: () => T | Promise<T>, timeoutMs = 120_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const status = async (id: string): Promise<MissionProgress> =>
  JSON.parse((await flotilla(['status', id, '--json'])).stdout) as MissionProgress;

test('blocked, resumed, completed: one delivered POST per event, the same key after a worker SIGKILL mid-POST', async () => {
  const id = 'notified';
  const repo = makeRepo();
  const flag = path.join(dir, 'verify-may-pass');
  const stdinLog = path.join(dir, 'notifier.jsonl');
  const file = path.join(dir, 'mission.json');
  writeFileSync(
    file,
    JSON.stringify({
      id,
      repo,
      agent: { runtime: 'command', retries: 0, command: ['bash', '-c', 'echo work > work.txt'] },
      // Fails until the test says otherwise: the mission blocks on it (pause), a resume goes on.
      verify: [['test', '-f', flag]],
      policy: { onVerifyFailure: 'pause' },
      notify: [
        { on: ['blocked', 'completed', 'landed'], webhook: { env: 'HOOK_URL' } },
        { on: ['blocked'], command: ['bash', '-c', `cat >> ${stdinLog}; echo >> ${stdinLog}`] },
      ],
      tasks: [{ id: 'work', prompt: 'write work.txt' }],
    }),
  );
  const first = await startWorker();
  // The first POST: the worker dies while it waits for the answer (which never comes).
  let killed = false;
  onRequest = (_r, res) => {
    if (killed) return void res.end('ok');
    killed = true;
    first.kill('SIGKILL');
    res.destroy();
  };
  expect((await flotilla(['start', file])).code).toBe(0);
  await until('the first blocked POST', () => received.length >= 1);
  await first.result;
  await startWorker();
  // The retry (after the heartbeat timeout) from the new worker is answered.
  await until('a delivered blocked POST', () => received.some((r) => r.answered === 200), 150_000);
  expect((await status(id)).phase).toBe('blocked');

  writeFileSync(flag, '');
  expect((await flotilla(['resume', id])).code).toBe(0);
  await until('completed', async () => (await status(id)).phase === 'completed');
  await until('the completed POST', () => received.some((r) => r.body.event === 'completed' && r.answered === 200));
  // Nothing more is sent after the end.
  await new Promise((r) => setTimeout(r, 3000));

  const blocked = received.filter((r) => r.body.event === 'blocked');
  const completed = received.filter((r) => r.body.event === 'completed');
  expect(blocked.map((r) => [r.key, r.answered])).toEqual([
    [`mission-${id}/blocked/1`, null],
    [`mission-${id}/blocked/1`, 200],
  ]);
  expect(completed.map((r) => [r.key, r.answered])).toEqual([[`mission-${id}/completed/1`, 200]]);
  expect(received).toHaveLength(3);

  // `flotilla land` sends `landed` itself, once the landing succeeded, from the CLI's environment.
  const land = await runCli(['land', id], { env: { ...cliEnv(), HOOK_URL: hookUrl }, timeoutMs: 120_000 });
  expect({ code: land.code, stderr: land.stderr }).toEqual({ code: 0, stderr: '' });
  const landedSha = (await status(id)).integrationSha!;
  const landed = received.filter((r) => r.body.event === 'landed');
  expect(landed.map((r) => [r.key, r.answered])).toEqual([[`mission-${id}/landed/${landedSha}`, 200]]);
  expect(landed[0].body.next).toEqual([`flotilla clean ${id}`]);
  // Landing again lands nothing new, and tells nobody.
  expect((await runCli(['land', id], { env: { ...cliEnv(), HOOK_URL: hookUrl } })).code).toBe(0);
  expect(received).toHaveLength(4);
  const body = blocked[1].body;
  expect(body).toMatchObject({ mission: id, event: 'blocked', key: `mission-${id}/blocked/1` });
  expect(body.next).toContain(`flotilla resume ${id}`);
  expect(body.reason).toContain('test -f');
  expect(body.text).toContain(`mission ${id} blocked`);
  expect(completed[0].body.next).toContain(`flotilla land ${id}`);

  // The command notifier got the same JSON on stdin (at least once: it ran before the POST).
  const lines = readFileSync(stdinLog, 'utf8').split('\n').filter(Boolean);
  expect(lines.length).toBeGreaterThanOrEqual(1);
  for (const l of lines) expect(JSON.parse(l)).toMatchObject({ event: 'blocked', key: `mission-${id}/blocked/1` });

  // The webhook's URL is in no history: the mission file named its variable.
  const history = await env.client.workflow.getHandle(`mission-${id}`).fetchHistory();
  // Payloads are base64 in the history's JSON: decode every one.
  const raw = JSON.stringify(history);
  const text = [...raw.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)]
    .map((m) => Buffer.from(m[1], 'base64').toString('utf8'))
    .join('\n');
  expect(text).toContain('HOOK_URL');
  expect(text).not.toContain('x7Kq2pLm9Vb4Nc8Zr1Wd');
}, 400_000);

test('a literal webhook URL with a token in it is refused (exit 2), naming the way to pass it', async () => {
  const file = path.join(dir, 'leaky.yaml');
  writeFileSync(
    file,
    [
      `repo: ${makeRepo()}`,
      'notify:',
      '  - { on: [blocked], webhook: "https://hooks.example.com/services?token=abc" }',
      'tasks: [{ id: a, prompt: p, agent: { runtime: command, command: [true] } }]',
    ].join('\n'),
  );
  const r = await flotilla(['validate', file]);
  expect(r.code).toBe(2);
  expect(r.stderr + r.stdout).toContain('notify[0].webhook');
  expect(r.stderr + r.stdout).toContain('webhook: { env: SLACK_WEBHOOK_URL }');
});
