/**
 * `notify:` in the mission file (README "The mission file", `notify`), issue 20: a list of
 * `{ on: [events], webhook: URL | { env: NAME } }` or `{ on: [events], command: [argv] }`.
 *
 * The mission file goes into Temporal history whole, so a webhook whose URL is itself the secret
 * (a Slack or Discord webhook, a `?token=` query) is passed by the NAME of the worker's variable
 * that holds it (`webhook: { env: SLACK_WEBHOOK_URL }`), read only when a notification is sent. A
 * literal URL that looks like it carries a secret is refused: credentials (`https://u:p@host`),
 * a query parameter named like one (token, key, secret, sig, auth, password, code) or whose value
 * looks like a token, or a path segment that does (20+ characters mixing letters and digits).
 */
import { z } from 'zod';
import { hasUrlCredentials } from '../mission/url-credentials';
import { NOTIFY_EVENTS } from '../mission/types';

const SECRET_PARAM = /token|key|secret|sig|auth|pass|code|credential/i;

/** Looks like a generated token: 20+ characters from a token alphabet, letters and digits mixed. */
function tokenLike(s: string): boolean {
  return s.length >= 20 && /^[A-Za-z0-9_\-.~%]+$/.test(s) && /[A-Za-z]/.test(s) && /[0-9]/.test(s);
}

/** Why the literal webhook URL `text` is refused, or null when it may be written in the mission file. */
export function webhookProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  const secret =
    'looks like it carries a secret, and the mission file goes into Temporal history: put the URL in a ' +
    "variable of the worker's environment and name it: `webhook: { env: SLACK_WEBHOOK_URL }`";
  if (url.username || url.password || hasUrlCredentials(text)) return `has credentials in it; it ${secret}`;
  for (const [name, value] of url.searchParams)
    if (SECRET_PARAM.test(name) || tokenLike(value)) return `has a token-looking query (${name}=…); it ${secret}`;
  if (url.pathname.split('/').some((seg) => tokenLike(seg))) return `has a token-looking path; it ${secret}`;
  return null;
}

const envName = z
  .string({ error: 'must be the NAME of an environment variable' })
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be the NAME of an environment variable' })
  .refine((n) => !n.startsWith('TEMPORAL_'), { error: "is the worker's own Temporal setting (TEMPORAL_*)" });

const webhook = z.union(
  [
    z.string().superRefine((s, ctx) => {
      const problem = webhookProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    z.strictObject({ env: envName }),
  ],
  { error: 'must be a URL, or { env: NAME } naming the variable of the worker that holds it' },
);

const events = z
  .array(z.enum(NOTIFY_EVENTS as [string, ...string[]], { error: `must be one of: ${NOTIFY_EVENTS.join(', ')}` }), {
    error: `must be a list of events (${NOTIFY_EVENTS.join(', ')})`,
  })
  .min(1, { error: 'must name at least one event' });

/** One `notify:` entry: exactly one of `webhook` and `command`. */
const target = z
  .strictObject({
    on: events,
    webhook: webhook.optional(),
    command: z
      .array(z.string({ error: 'must be a string' }), { error: 'must be an argv: a list of strings' })
      .min(1)
      .optional(),
  })
  .refine((t) => (t.webhook === undefined) !== (t.command === undefined), {
    error: 'needs exactly one of `webhook:` and `command:`',
  });

export const notifySchema = z.array(target, {
  error: 'must be a list of { on: [...], webhook: ... } or { on: [...], command: [...] }',
});
export type RawNotify = z.infer<typeof notifySchema>;
