/**
 * Notifications on the host (src/agents/notify.ts) and the mission file's webhook rule
 * (src/mission-file/schema-notify.ts): what is refused as a secret in a URL, the body, the
 * command notifier's stdin, and errors that never show a webhook's URL.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { notification, sendNotification } from '../../src/agents/notify';
import { webhookProblem } from '../../src/mission-file/schema-notify';

test('webhookProblem: URLs with credentials or token-looking parts are refused, plain ones pass', () => {
  expect(webhookProblem('http://127.0.0.1:8080/hook')).toBeNull();
  expect(webhookProblem('https://ci.example.com/flotilla/events')).toBeNull();
  expect(webhookProblem('https://user:pw@example.com/hook')).toMatch(/credentials/);
  expect(webhookProblem('https://tok3n@example.com/hook')).toMatch(/credentials/);
  expect(webhookProblem('https://example.com/hook?token=abc')).toMatch(/token-looking query \(token=/);
  expect(webhookProblem('https://example.com/hook?x=a1b2c3d4e5f6g7h8i9j0k')).toMatch(/token-looking query/);
  expect(webhookProblem('https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX1')).toMatch(
    /token-looking path/,
  );
  expect(webhookProblem('ftp://example.com/x')).toMatch(/http/);
  expect(webhookProblem('not a url')).toMatch(/http/);
  expect(webhookProblem('https://example.com/hook?token=abc')).toContain('webhook: { env: SLACK_WEBHOOK_URL }');
});

test('notification: next commands and a text Slack shows', () => {
  const n = notification({
    mission: 'm',
    event: 'blocked',
    reason: 'conflict in f.txt',
    key: 'mission-m/blocked/1',
    webUi: 'http://ui/m',
    report: 'file:///r.html',
  });
  expect(n.next).toEqual(['flotilla status m', 'flotilla resume m']);
  expect(n.text).toBe(
    'Flotilla: mission m blocked: conflict in f.txt\nNext: `flotilla status m`, `flotilla resume m`\nWeb UI: http://ui/m\nReport: file:///r.html',
  );
});

const n = notification({ mission: 'm', event: 'completed', reason: null, key: 'k/1', webUi: null, report: null });

test('a command notifier gets the JSON on stdin; a failing one throws with its stderr', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flotilla-notify-'));
  const out = path.join(dir, 'in.json');
  await sendNotification({ on: ['completed'], command: ['bash', '-c', `cat > ${out}`] }, n);
  expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(n);
  await expect(
    sendNotification({ on: ['completed'], command: ['bash', '-c', 'echo nope >&2; exit 3'] }, n),
  ).rejects.toThrow('command bash exited 3: nope');
});

test('a webhook gets a POST with the idempotency key; failures name the variable, never the URL', async () => {
  const seen: Array<{ key: string | undefined; type: string | undefined; body: string }> = [];
  let status = 200;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ key: req.headers['idempotency-key'] as string, type: req.headers['content-type'], body });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/secret-path-x9`;
  try {
    const target = { on: ['completed' as const], webhook: { env: 'MY_HOOK' } };
    await sendNotification(target, n, { env: { MY_HOOK: url } });
    expect(seen).toEqual([{ key: 'k/1', type: 'application/json', body: JSON.stringify(n) }]);
    status = 500;
    const err = await sendNotification(target, n, { env: { MY_HOOK: url } }).catch((e: Error) => e);
    expect((err as Error).message).toBe('webhook $MY_HOOK answered HTTP 500');
    await expect(sendNotification(target, n, { env: {} })).rejects.toThrow(
      "webhook $MY_HOOK is not set in the worker's environment",
    );
    server.close();
    const gone = await sendNotification(target, n, { env: { MY_HOOK: url } }).catch((e: Error) => e);
    expect((gone as Error).message).toMatch(/^webhook \$MY_HOOK could not be reached/);
    expect((gone as Error).message).not.toContain('secret-path');
  } finally {
    server.close();
  }
});
