/**
 * Sending one notification (README "The mission file", `notify`): the JSON body, a webhook POST
 * and a command notifier. Host code, no Temporal: the `notify` activity (src/activities/notify.ts)
 * sends what the mission workflow decided, `flotilla land` sends `landed` itself.
 *
 * Every POST carries `Idempotency-Key: <key>` (the same on every retry of one event, e.g.
 * `mission-m/blocked/1`): a receiver that may see a notification twice (a worker killed after
 * the POST, before Temporal heard the activity finished) drops the second by that key. A webhook
 * named by `{ env: NAME }` is read from the sender's environment here, and neither it nor the
 * URL is ever put in an error: a failure names the variable.
 */
import type { NotifyEvent, NotifyTarget } from '../mission/types';
import { commandEnv } from './environment';
import { spawnGroup, Tail, terminateGroup } from './process';
import os from 'node:os';

/** What a notification says; its JSON is the webhook's body and the command's stdin. */
export interface Notification {
  mission: string;
  event: NotifyEvent;
  /** Why (the block's reason, the failure, the budget passed), or null. */
  reason: string | null;
  /** The commands a person runs next, e.g. `flotilla resume m`. */
  next: string[];
  /** The mission's page in the Temporal Web UI, when known. */
  webUi: string | null;
  /** The mission's report (a file:// URL on the client's host), when known. */
  report: string | null;
  /** The idempotency key, also sent as the `Idempotency-Key` header. */
  key: string;
  /** One line or a few for people: what Slack-compatible webhooks display. */
  text: string;
}

/** The commands a person runs next after `event` of mission `id`. */
export function nextCommands(id: string, event: NotifyEvent): string[] {
  switch (event) {
    case 'blocked':
      return [`flotilla status ${id}`, `flotilla resume ${id}`];
    case 'budget':
      return [`flotilla status ${id}`, `flotilla resume ${id}`, `flotilla cancel ${id}`];
    case 'failed':
      return [`flotilla status ${id}`, `flotilla retry ${id} <task>`, `flotilla report ${id}`];
    case 'completed':
      return [`flotilla land ${id}`, `flotilla report ${id}`];
    case 'landed':
      return [`flotilla clean ${id}`];
  }
}

/** The notification for `event`, its `text` made from the rest. */
export function notification(n: Omit<Notification, 'text' | 'next'> & { next?: string[] }): Notification {
  const next = n.next ?? nextCommands(n.mission, n.event);
  const lines = [`Flotilla: mission ${n.mission} ${n.event}${n.reason ? `: ${n.reason}` : ''}`];
  if (next.length) lines.push(`Next: ${next.map((c) => `\`${c}\``).join(', ')}`);
  if (n.webUi) lines.push(`Web UI: ${n.webUi}`);
  if (n.report) lines.push(`Report: ${n.report}`);
  return { ...n, next, text: lines.join('\n') };
}

/** How long one webhook POST or notifier command may take, ms. */
export const NOTIFY_TIMEOUT_MS = 30_000;

/** Where `target` sends to, for messages (never the URL: it may be the secret). */
export function targetName(target: NotifyTarget): string {
  if (target.command) return `command ${target.command[0]}`;
  return typeof target.webhook === 'string' ? 'webhook' : `webhook $${target.webhook!.env}`;
}

/**
 * Sends `n` to `target`: a POST of its JSON (Content-Type application/json, Idempotency-Key), or
 * the command with the JSON on stdin (the command environment plus the mission's `env:` names).
 * @throws Error (naming the target, never its URL) when the webhook is unset, cannot be reached,
 *   answers other than 2xx, or the command fails or times out
 */
export async function sendNotification(
  target: NotifyTarget,
  n: Notification,
  opts: { env?: NodeJS.ProcessEnv; names?: string[]; signal?: AbortSignal } = {},
): Promise<void> {
  const body = JSON.stringify(n);
  if (target.command) return runNotifier(target.command, body, opts.names ?? [], opts.signal);
  const env = opts.env ?? process.env;
  const url = typeof target.webhook === 'string' ? target.webhook : env[target.webhook!.env];
  if (!url) throw new Error(`${targetName(target)} is not set in the worker's environment`);
  let status: number;
  try {
    const signals = [AbortSignal.timeout(NOTIFY_TIMEOUT_MS), ...(opts.signal ? [opts.signal] : [])];
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': n.key, 'user-agent': 'flotilla' },
      body,
      signal: AbortSignal.any(signals),
    });
    status = res.status;
    await res.arrayBuffer().catch(() => undefined);
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new Error(`${targetName(target)} could not be reached (${code})`);
  }
  if (status < 200 || status > 299) throw new Error(`${targetName(target)} answered HTTP ${status}`);
}

async function runNotifier(argv: string[], input: string, names: string[], signal?: AbortSignal): Promise<void> {
  const { child, pgid } = spawnGroup(argv, { cwd: os.tmpdir(), env: commandEnv(names), watchdog: true, input });
  const tail = new Tail(500);
  child.stderr?.setEncoding('utf8').on('data', (c: string) => tail.push(c));
  child.stdout?.resume();
  const kill = (): void => void terminateGroup(pgid);
  const timer = setTimeout(kill, NOTIFY_TIMEOUT_MS);
  signal?.addEventListener('abort', kill);
  try {
    const r = await child;
    if ((r as unknown as { code?: string }).code === 'ENOENT') throw new Error(`command ${argv[0]} not found`);
    if (r.exitCode !== 0)
      throw new Error(`command ${argv[0]} exited ${r.exitCode ?? 'killed'}: ${tail.toString().trim()}`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', kill);
    await terminateGroup(pgid, 500);
  }
}
