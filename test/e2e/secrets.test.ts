/**
 * Nothing leaked, as a user runs Flotilla: canary secrets in the worker's environment, every
 * command and agent printing its environment, and then the Temporal database file (and its
 * write-ahead log), everything under FLOTILLA_HOME, the report, the metrics and the CLI's own
 * output searched for each canary, as is and in base64: zero hits.
 *
 * The processes are the built CLI's: `flotilla server --db` (a dev server whose database is a file
 * under FLOTILLA_HOME), `flotilla worker --metrics` (the worker, holding the canaries), `flotilla
 * run` and `flotilla report`. The mission prints the environment from its setup (failing once, so
 * the failure reaches history), a task gate (failing once, its output goes back to the agent),
 * the mission verify (failing once, its output is in the verify run's result), a `command` agent
 * (its summary quotes its agent.env secret) and the real Claude Code CLI running `env` through its
 * Bash tool (against the stub Anthropic API). Each command also dumps its environment to a folder
 * of the test's, which shows what reached it: the names the mission lists, no other secret.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporalReachable } from '../../src/client/server';
import { CliProcess, runCli, spawnCli, spawnMetricsWorker } from '../helpers/cli';
import { makeRepo, tempDir } from '../helpers/git';
import { freePort } from '../helpers/net';
import { AnthropicStub, reply, scripted, startAnthropicStub } from '../helpers/stub-anthropic';

const canary = (prefix: string): string => `${prefix}${randomBytes(16).toString('hex')}`;
/** The worker's secrets: by name pattern, a runtime's credential, a Temporal header, listed names. */
const CANARIES = {
  ANTHROPIC_API_KEY: canary('sk-ant-api03-canary-'),
  MY_SERVICE_TOKEN: canary('svc-token-canary-'),
  DB_PASSWORD: canary('db-password-canary-'),
  // An extra gRPC header to the dev server, which ignores it: harmless, and a worker credential.
  TEMPORAL_GRPC_META_X_CANARY: canary('temporal-meta-canary-'),
  // Not secret by its name: secret because the mission's agent.env lists it.
  CANARY_AGENT_ONLY: canary('agent-only-canary-'),
  // Not secret by its name: secret because the mission's `env:` lists it (its commands need it).
  CANARY_FOR_COMMANDS: canary('commands-canary-'),
};
type Canary = keyof typeof CANARIES;

/** The forms a value takes in what is searched: as is, and base64 at each of the 3 alignments. */
function forms(value: string): string[] {
  const out = [value];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift, 0x20), Buffer.from(value)]).toString('base64');
    // Drop the characters that also encode the neighbouring bytes (unknown in a larger text).
    out.push(b64.slice(shift === 0 ? 0 : 4, -4));
  }
  return out;
}

/** Every regular file under `dir`, recursively (git objects are compressed: not worth reading). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

/** `[file, canary name, form]` for every canary found in `files` (or in the named texts). */
function hits(files: string[], texts: Record<string, string> = {}): string[] {
  const found: string[] = [];
  const look = (where: string, content: Buffer): void => {
    for (const [name, value] of Object.entries(CANARIES))
      for (const form of forms(value)) if (content.includes(form)) found.push(`${where}: ${name} (${form})`);
  };
  for (const f of files) if (existsSync(f)) look(f, readFileSync(f));
  for (const [where, text] of Object.entries(texts)) look(where, Buffer.from(text));
  return found;
}

const home = tempDir('flotilla-secrets-home-');
const dumps = tempDir('flotilla-secrets-dumps-');
const claudeHome = tempDir('flotilla-secrets-claude-');
const started: CliProcess[] = [];
let stub: AnthropicStub;

afterAll(async () => {
  // SIGTERM: `flotilla server` passes it on to the dev server it runs (a SIGKILL would orphan it).
  for (const p of started.splice(0).reverse()) {
    p.kill('SIGTERM');
    await p.result;
  }
  await stub?.close();
});

/** Parses `env` output (NAME=value lines; multi-line values are not used here). */
function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(line.slice(0, i))) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

/** The environments dumped by the commands whose dump files start with `kind-`: parsed, and as written. */
function dumped(kind: string): Array<{ env: Record<string, string>; text: string }> {
  return readdirSync(dumps)
    .filter((f) => f.startsWith(`${kind}-`) && f.endsWith('.env'))
    .map((f) => readFileSync(path.join(dumps, f), 'utf8'))
    .map((text) => ({ env: parseEnv(text), text }));
}

/** The canaries other than `except` whose values occur in `text`. */
const othersIn = (text: string, except: Canary): Canary[] =>
  (Object.keys(CANARIES) as Canary[]).filter((n) => n !== except && text.includes(CANARIES[n]));

test('canary secrets on the worker are found nowhere: Temporal database, FLOTILLA_HOME, report, metrics, CLI output', async () => {
  stub = await startAnthropicStub(
    scripted(
      reply.toolUse('Bash', { command: 'env; echo claude > claude.txt', description: 'print the environment' }),
      reply.text('Printed the environment and wrote claude.txt.'),
    ),
  );
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const db = path.join(home, 'temporal.db');
  // The user's shell: the canaries, Claude Code's stub and a home of its own for Claude Code.
  const env: NodeJS.ProcessEnv = {
    ...CANARIES,
    TEMPORAL_ADDRESS: address,
    FLOTILLA_HOME: home,
    FLOTILLA_TASK_QUEUE: 'flotilla-secrets',
    HOME: claudeHome,
    ANTHROPIC_BASE_URL: stub.url,
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  };

  const server = spawnCli(['server', '--db', db], { env, timeoutMs: 580_000 });
  started.push(server);
  const deadline = Date.now() + 120_000;
  while (!(await temporalReachable(address, 1000))) {
    if (Date.now() > deadline) throw new Error(`the dev server did not come up:\n${server.stderr()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const { worker, port: metricsPort } = await spawnMetricsWorker({ env, timeoutMs: 580_000 });
  started.push(worker);
  await worker.waitFor(/flotilla worker: task queues/, 120_000);

  const repo = makeRepo();
  // Each command dumps its environment, prints it, and prints the worker's secrets it can find
  // some other way: the worker's own environment, read from /proc (its parent is the worker).
  const names = Object.keys(CANARIES).join('|');
  const dump = (kind: string): string =>
    `env > ${dumps}/${kind}-$$.env; env; tr '\\0' '\\n' < /proc/$PPID/environ | grep -E '^(${names})='`;
  const once = (kind: string, say = `echo "${kind} fails once"`): string =>
    `if mkdir ${dumps}/${kind}.failed 2>/dev/null; then ${say}; exit 1; fi`;
  const file = path.join(repo, 'mission.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      id: 'canary',
      concurrency: 2,
      env: ['CANARY_FOR_COMMANDS'],
      setup: [`${dump('setup')}; ${once('setup')}`],
      verify: [
        `${dump('verify')}; printf %s "$CANARY_FOR_COMMANDS" | sha256sum > ${dumps}/verify-listed.sha; ${once('verify')}`,
      ],
      policy: { onVerifyFailure: 'fix' },
      agent: {
        runtime: 'command',
        retries: 1,
        env: ['CANARY_AGENT_ONLY'],
        command: [
          'bash',
          '-c',
          // Its first attempt fails quoting its secret (the failure's message reaches history),
          // the next one ends quoting it (its summary does).
          `env > ${dumps}/agent-$$.env; env; ${once('agent', 'echo "agent fails once: $CANARY_AGENT_ONLY" >&2')}; ` +
            `echo "$FLOTILLA_TASK_ID" > "$FLOTILLA_TASK_ID.txt"; echo "my key is $CANARY_AGENT_ONLY"`,
        ],
      },
      tasks: [
        {
          id: 'printer',
          prompt: 'Print the environment.',
          verify: [`${dump('gate')}; ${once('gate')}`],
          maxIterations: 2,
        },
        {
          id: 'claude',
          prompt: 'Print the environment with env, then write claude.txt.',
          agent: {
            runtime: 'claude',
            model: 'claude-sonnet-4-5',
            env: [
              'DISABLE_TELEMETRY',
              'DISABLE_AUTOUPDATER',
              'DISABLE_ERROR_REPORTING',
              'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC',
            ],
          },
        },
      ],
    }),
  );

  const run = await runCli(['run', file], { env, timeoutMs: 400_000 });
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.any(String) as string });
  expect(run.stdout).toMatch(/mission canary completed/);
  const report = await runCli(['report', 'canary'], { env, timeoutMs: 60_000 });
  expect(report.code).toBe(0);
  const reportFile = path.join(home, 'runs', 'canary', 'report.html');
  expect(existsSync(reportFile)).toBe(true);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  expect(metrics).toContain('flotilla_verify_runs_total');

  // Every command and agent ran and printed its environment; the setup, the gate and the verify
  // each failed once, so their output reached Temporal.
  for (const kind of ['setup', 'gate', 'verify', 'agent'])
    expect(existsSync(path.join(dumps, `${kind}.failed`))).toBe(true);
  expect(stub.agentRequests().length).toBeGreaterThanOrEqual(2);
  const claudeBash = JSON.stringify(stub.agentRequests()[1].messages);
  expect(claudeBash).toContain(CANARIES.ANTHROPIC_API_KEY);

  // The values did reach Temporal (the failed setup's message, the verify's output): redacted.
  const temporal = Buffer.concat([
    readFileSync(db),
    existsSync(`${db}-wal`) ? readFileSync(`${db}-wal`) : Buffer.alloc(0),
  ]);
  for (const name of Object.keys(CANARIES))
    expect({ name, found: temporal.includes(`[redacted:${name}]`) }).toEqual({ name, found: true });

  // While the server runs, its database has a write-ahead log: both searched, and all of FLOTILLA_HOME.
  const live = hits([...filesUnder(home), `${db}-wal`], {
    'flotilla run output': run.stdout + run.stderr,
    'flotilla report output': report.stdout + report.stderr,
    'metrics scrape': metrics,
  });
  worker.kill('SIGTERM');
  const workerDone = await worker.result;
  server.kill('SIGTERM');
  await server.result;
  started.splice(0);
  const after = hits(filesUnder(home), { 'flotilla worker output': workerDone.stdout + workerDone.stderr });
  expect([...live, ...after]).toEqual([]);
  expect(statSync(db).size).toBeGreaterThan(0);

  // What reached the commands: the names the mission lists for them, no other secret.
  const commands = ['setup', 'gate', 'verify'].flatMap((k) => dumped(k).map((d) => [k, d] as const));
  expect(commands.length).toBeGreaterThanOrEqual(5);
  for (const [kind, { env: e, text }] of commands) {
    expect({ kind, listed: e.CANARY_FOR_COMMANDS }).toEqual({ kind, listed: CANARIES.CANARY_FOR_COMMANDS });
    expect({ kind, leaked: othersIn(text, 'CANARY_FOR_COMMANDS') }).toEqual({ kind, leaked: [] });
    expect(
      Object.keys(e).filter((n) => n.startsWith('TEMPORAL_') || (n in CANARIES && n !== 'CANARY_FOR_COMMANDS')),
    ).toEqual([]);
  }
  expect(readFileSync(path.join(dumps, 'verify-listed.sha'), 'utf8').split(' ')[0]).toBe(
    createHash('sha256').update(CANARIES.CANARY_FOR_COMMANDS).digest('hex'),
  );
  // The command agent: its agent.env name, none of the worker's other secrets (its prompt, the
  // gate's failed output, names them redacted).
  const agents = dumped('agent');
  expect(agents.length).toBeGreaterThanOrEqual(2);
  for (const { text } of agents) {
    // (Its prompt holds the gate's output, `CANARY_AGENT_ONLY=[redacted:…]` lines included.)
    expect(text.split('\n')).toContain(`CANARY_AGENT_ONLY=${CANARIES.CANARY_AGENT_ONLY}`);
    expect(othersIn(text, 'CANARY_AGENT_ONLY')).toEqual([]);
  }
}, 600_000);

test('flotilla validate refuses a TEMPORAL_* name in agent.env: exit 2, the file, the field, the reason', async () => {
  const repo = makeRepo();
  const file = path.join(repo, 'mission.yaml');
  writeFileSync(
    file,
    "id: t\nagent: { runtime: command, command: [bash, -c, 'true'], env: [TEMPORAL_API_KEY] }\ntasks:\n  - { id: a, prompt: p }\n",
  );
  const r = await runCli(['validate', file], { env: { FLOTILLA_HOME: home } });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(file);
  expect(r.stderr).toMatch(/agent\.env\[0\].*the worker's own Temporal setting or credential \(TEMPORAL_\*\)/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
});
