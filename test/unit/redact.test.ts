/**
 * Nothing leaked, piece by piece: the redaction helper (text, JSON values, errors, streams), the
 * one secret rule, the environment commands and agents get, what `runChecks` writes and returns,
 * transcripts, the worker's redaction boundary (codec and interceptor) and the mission file's
 * refusal of `TEMPORAL_*` names. The whole, through the CLI: test/e2e/secrets.test.ts.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { agentEnv, commandEnv } from '../../src/agents/environment';
import { MIN_REDACTED_LENGTH, Redactor } from '../../src/secrets/redact';
import { isSecretName, learnSecretNames, namesListedIn, secretNames, secretRedactor } from '../../src/secrets/secrets';
import { TranscriptWriter } from '../../src/agents/transcript';
import { MissionFileError } from '../../src/mission-file/errors';
import { loadMission } from '../../src/mission-file/load';
import { RedactingCodec, redactionInterceptor, redactPayload } from '../../src/worker/redaction';
import { makeRepo, tempDir } from '../helpers/git';

describe('Redactor', () => {
  const env = { API_KEY: 'sk-live-123456', SHORT: 'on', EMPTY: '', OTHER: 'hunter22', PREFIX: 'sk-live' };

  test('replaces every occurrence of a named value with [redacted:NAME]', () => {
    const r = new Redactor(['API_KEY', 'OTHER'], env);
    expect(r.text('key=sk-live-123456 again sk-live-123456; pw hunter22')).toBe(
      'key=[redacted:API_KEY] again [redacted:API_KEY]; pw [redacted:OTHER]',
    );
  });

  test('leaves short, empty, unset and unnamed values alone', () => {
    expect(MIN_REDACTED_LENGTH).toBe(4);
    const r = new Redactor(['SHORT', 'EMPTY', 'UNSET'], env);
    expect(r.empty).toBe(true);
    expect(r.text('on and on; hunter22')).toBe('on and on; hunter22');
  });

  test('a value that contains another is replaced whole (longest first)', () => {
    const r = new Redactor(['PREFIX', 'API_KEY'], env);
    expect(r.text('sk-live-123456 / sk-live')).toBe('[redacted:API_KEY] / [redacted:PREFIX]');
  });

  test('a value as JSON escapes it, and each line of a multi-line value (a PEM key), are redacted too', () => {
    const r = new Redactor(['Q', 'PEM'], {
      Q: 'pa"ss\\word',
      PEM: '-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\n-----END KEY-----',
    });
    expect(r.text(JSON.stringify({ line: 'Q=pa"ss\\word' }))).toBe('{"line":"Q=[redacted:Q]"}');
    expect(r.text('line two: AAAABBBBCCCCDDDD')).toBe('line two: [redacted:PEM]');
  });

  test('value(): strings in any JSON value redacted; keys, numbers, structure and git object ids kept', () => {
    const r = new Redactor(['HEX', 'API_KEY'], { HEX: 'beef', API_KEY: env.API_KEY });
    const sha = 'deadbeef'.repeat(5);
    const input = { sha, n: 1234, ok: true, list: ['a beef b', { sk: 'sk-live-123456' }], same: ['x'] };
    const out = r.value(input);
    expect(out).toEqual({
      sha,
      n: 1234,
      ok: true,
      list: ['a [redacted:HEX] b', { sk: '[redacted:API_KEY]' }],
      same: ['x'],
    });
    expect(out.same).toBe(input.same);
    expect(r.value({ a: 'nothing here' })).toEqual({ a: 'nothing here' });
    const plain = { a: ['nothing here'] };
    expect(r.value(plain)).toBe(plain);
  });

  test("error(): an error's message, stack, details and cause chain, in place, keeping type and flags", () => {
    const r = new Redactor(['API_KEY'], env);
    const cause = new Error('inner sk-live-123456');
    const err = ApplicationFailure.create({
      message: 'curl -H "x-api-key: sk-live-123456" failed',
      type: 'AgentAuth',
      nonRetryable: true,
      details: [{ tail: 'sk-live-123456' }],
      cause,
    });
    expect(r.error(err)).toBe(err);
    expect(err).toMatchObject({
      message: 'curl -H "x-api-key: [redacted:API_KEY]" failed',
      type: 'AgentAuth',
      nonRetryable: true,
    });
    expect(err.stack).not.toContain('sk-live-123456');
    expect(err.details).toEqual([{ tail: '[redacted:API_KEY]' }]);
    expect(cause.message).toBe('inner [redacted:API_KEY]');
    expect(r.error('thrown sk-live-123456')).toBe('thrown [redacted:API_KEY]');
  });

  test('stream(): a value split across chunks anywhere is still redacted, nothing lost', () => {
    const r = new Redactor(['API_KEY', 'OTHER'], env);
    const text = 'start sk-live-123456 mid hunter22 and sk-live-123456 end\n'.repeat(3);
    for (const size of [1, 2, 3, 5, 7, 13, 100]) {
      const s = r.stream();
      let out = '';
      for (let i = 0; i < text.length; i += size) out += s.push(text.slice(i, i + size));
      out += s.end();
      expect(out).toBe(r.text(text));
    }
  });
});

describe('the secret rule', () => {
  test('names by pattern, the runtimes credentials and the worker Temporal credentials are secrets', () => {
    for (const name of [
      'ANTHROPIC_API_KEY',
      'ANTHROPIC_AUTH_TOKEN',
      'CLAUDE_CODE_OAUTH_TOKEN',
      'OPENAI_API_KEY',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_ACCESS_KEY_ID',
      'AWS_SESSION_TOKEN',
      'GH_TOKEN',
      'GITHUB_TOKEN',
      'NPM_TOKEN',
      'MY_SERVICE_TOKEN',
      'CLIENT_SECRET',
      'DB_PASSWORD',
      'PGPASSWORD',
      'ANTHROPIC_CUSTOM_HEADERS',
      'TEMPORAL_API_KEY',
      'TEMPORAL_TLS_KEY',
      'TEMPORAL_TLS_CLIENT_KEY_DATA',
      'TEMPORAL_GRPC_META_AUTHORIZATION',
      'TEMPORAL_CODEC_AUTH',
    ])
      expect({ name, secret: isSecretName(name) }).toEqual({ name, secret: true });
    for (const name of [
      'PATH',
      'HOME',
      'ANTHROPIC_BASE_URL',
      'TEMPORAL_ADDRESS',
      'TEMPORAL_TLS_CERT',
      'TOKENIZERS_PARALLELISM',
    ])
      expect({ name, secret: isSecretName(name) }).toEqual({ name, secret: false });
  });

  test('secretNames(): the environment by the rule, the names missions listed (learned), and extra names', () => {
    const env = { MY_SERVICE_TOKEN: 'x', PLAIN: 'y', LISTED_SOMEWHERE: 'z' };
    expect(secretNames(['EXTRA'], env)).toEqual(expect.arrayContaining(['MY_SERVICE_TOKEN', 'EXTRA']));
    expect(secretNames([], env)).not.toContain('PLAIN');
    learnSecretNames(['LISTED_SOMEWHERE', 'not a name!', 'HOME', 'FLOTILLA_HOME']);
    expect(secretNames([], env)).toContain('LISTED_SOMEWHERE');
    expect(secretNames([], env)).not.toContain('not a name!');
    // The baseline and Flotilla's own settings are parts of every path: never secrets by a listing.
    expect(secretNames(['PATH', 'FLOTILLA_TASK_QUEUE'], env)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^(HOME|PATH|FLOTILLA_HOME|FLOTILLA_TASK_QUEUE)$/)]),
    );
    expect(secretRedactor([], { MY_SERVICE_TOKEN: 'svc-123456' }).text('t=svc-123456')).toBe(
      't=[redacted:MY_SERVICE_TOKEN]',
    );
  });

  test('namesListedIn(): arrays of names under `env` or `redact` anywhere in an activity input', () => {
    const input = [
      {
        agent: { env: ['CANARY_A'], runtime: 'command' },
        redact: ['CANARY_B'],
        env: ['CANARY_C'],
        extraEnv: { NOT_A_LIST: 'v' },
        commands: ['echo env'],
        deep: { env: 'not a list', more: [{ env: ['CANARY_D'] }] },
      },
    ];
    expect(namesListedIn(input).sort()).toEqual(['CANARY_A', 'CANARY_B', 'CANARY_C', 'CANARY_D']);
  });
});

describe('the environment commands and agents get', () => {
  const worker = {
    PATH: '/bin',
    HOME: '/home/u',
    LANG: 'C.UTF-8',
    FLOTILLA_HOME: '/home/u/.flotilla',
    FLOTILLA_API_TOKEN: 'never',
    ANTHROPIC_API_KEY: 'sk-ant-xyz',
    NPM_TOKEN: 'npm-xyz',
    MY_SETTING: 'm',
    TEMPORAL_API_KEY: 'tmprl',
    TEMPORAL_ADDRESS: 'x:7233',
  };

  test('commands: the baseline, the worker FLOTILLA_* variables (not secret ones), the names listed; never TEMPORAL_*', () => {
    expect(commandEnv([], worker)).toEqual({
      PATH: '/bin',
      HOME: '/home/u',
      LANG: 'C.UTF-8',
      FLOTILLA_HOME: '/home/u/.flotilla',
    });
    expect(commandEnv(['NPM_TOKEN', 'UNSET', 'TEMPORAL_API_KEY'], worker)).toEqual({
      PATH: '/bin',
      HOME: '/home/u',
      LANG: 'C.UTF-8',
      FLOTILLA_HOME: '/home/u/.flotilla',
      NPM_TOKEN: 'npm-xyz',
    });
  });

  test("agents: the baseline, the runtime's variables, agent.env, then Flotilla's own; never TEMPORAL_*", () => {
    expect(
      agentEnv(
        ['ANTHROPIC_API_KEY'],
        ['MY_SETTING', 'TEMPORAL_ADDRESS'],
        { FLOTILLA_ROLE: 'resolver' },
        { FLOTILLA_PROMPT: 'p' },
        worker,
      ),
    ).toEqual({
      PATH: '/bin',
      HOME: '/home/u',
      LANG: 'C.UTF-8',
      ANTHROPIC_API_KEY: 'sk-ant-xyz',
      MY_SETTING: 'm',
      FLOTILLA_ROLE: 'resolver',
      FLOTILLA_PROMPT: 'p',
    });
  });
});

describe('what runChecks and transcripts write', () => {
  const acts = createActivities({ home: tempDir('flotilla-home-'), hostQueue: 'q@test' });
  const saved = { ...process.env };
  beforeAll(() => {
    Object.assign(process.env, {
      UT_SERVICE_TOKEN: 'svc-9f8e7d6c5b4a',
      UT_LISTED: 'listed-1a2b3c4d5e',
      UT_PLAIN: 'plain-value-not-secret',
    });
  });
  afterAll(() => {
    process.env = saved;
  });

  test("a command gets the names listed, not the worker's other variables; its log and tail are redacted, the log mode 0600", async () => {
    const cwd = tempDir('flotilla-checks-');
    const logFile = path.join(cwd, 'logs', 'verify.log');
    // The command dumps its environment, then prints the worker's secrets it found some other way
    // (a file here; /proc/<worker>/environ in test/e2e/secrets.test.ts).
    const found = path.join(cwd, 'found.txt');
    writeFileSync(
      found,
      'UT_SERVICE_TOKEN=svc-9f8e7d6c5b4a\nUT_LISTED=listed-1a2b3c4d5e\nUT_PLAIN=plain-value-not-secret\n',
    );
    const r: Awaited<ReturnType<typeof acts.runChecks>> = await new MockActivityEnvironment().run(acts.runChecks, {
      cwd,
      commands: [`env > ${cwd}/seen.env; cat ${found}; exit 1`],
      timeoutMs: 30_000,
      logFile,
      env: ['UT_LISTED'],
    });
    const seen = readFileSync(path.join(cwd, 'seen.env'), 'utf8');
    expect(seen).toContain('UT_LISTED=listed-1a2b3c4d5e');
    expect(seen).not.toContain('UT_SERVICE_TOKEN');
    expect(seen).not.toContain('UT_PLAIN');
    const log = readFileSync(logFile, 'utf8');
    for (const text of [log, r.failed!.outputTail]) {
      expect(text).toContain('UT_SERVICE_TOKEN=[redacted:UT_SERVICE_TOKEN]');
      expect(text).toContain('UT_LISTED=[redacted:UT_LISTED]');
      expect(text).toContain('UT_PLAIN=plain-value-not-secret');
    }
    expect(statSync(logFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(logFile)).mode & 0o777).toBe(0o700);
  });

  test('a transcript record is redacted, the file mode 0600', async () => {
    const file = path.join(tempDir(), 'runs', 'm', 't', 'attempt-1.jsonl');
    const w = new TranscriptWriter(file, undefined, ['UT_LISTED']);
    w.record({ stream: 'stdout', line: '{"text":"UT_SERVICE_TOKEN=svc-9f8e7d6c5b4a listed-1a2b3c4d5e"}' });
    await w.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toMatch(/svc-9f8e7d6c5b4a|listed-1a2b3c4d5e/);
    expect(JSON.parse(JSON.parse(text).line)).toEqual({
      text: 'UT_SERVICE_TOKEN=[redacted:UT_SERVICE_TOKEN] [redacted:UT_LISTED]',
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe("the worker's redaction boundary", () => {
  const saved = { ...process.env };
  beforeAll(() => {
    process.env.FLOTILLA_UT_BOUNDARY_TOKEN = 'boundary-0a1b2c3d';
    process.env.UT_BOUNDARY_LISTED = 'boundary-listed-4e5f';
  });
  afterAll(() => {
    process.env = saved;
  });
  const payload = (value: unknown) => ({
    metadata: { encoding: new TextEncoder().encode('json/plain') },
    data: new TextEncoder().encode(JSON.stringify(value)),
  });
  const decode = (p: { data?: Uint8Array | null }) => JSON.parse(new TextDecoder().decode(p.data!)) as unknown;

  test('the codec redacts JSON payloads (strings only) and leaves others and clean ones as they are', async () => {
    const clean = payload({ a: 1 });
    const binary = {
      metadata: { encoding: new TextEncoder().encode('binary/plain') },
      data: new TextEncoder().encode('boundary-0a1b2c3d'),
    };
    const [dirty, same, bin] = await new RedactingCodec().encode([
      payload({ tail: 'x boundary-0a1b2c3d', n: 5 }),
      clean,
      binary,
    ]);
    expect(decode(dirty)).toEqual({ tail: 'x [redacted:FLOTILLA_UT_BOUNDARY_TOKEN]', n: 5 });
    expect(same).toBe(clean);
    expect(bin).toBe(binary);
    expect(await new RedactingCodec().decode([dirty])).toEqual([dirty]);
    expect(redactPayload(payload('boundary-0a1b2c3d'), new Redactor([]))).toEqual(payload('boundary-0a1b2c3d'));
  });

  test('the interceptor learns the names an input lists, then redacts what the activity throws', async () => {
    const { inbound } = redactionInterceptor({} as never);
    const input = { args: [{ agent: { env: ['UT_BOUNDARY_LISTED'] } }], headers: {} };
    const thrown = ApplicationFailure.retryable('boom boundary-listed-4e5f / boundary-0a1b2c3d', 'AgentExit');
    const err = await inbound!.execute!(input, () => Promise.reject(thrown)).catch((e: unknown) => e);
    expect(err).toBe(thrown);
    expect(thrown.message).toBe('boom [redacted:UT_BOUNDARY_LISTED] / [redacted:FLOTILLA_UT_BOUNDARY_TOKEN]');
    // Learned for the worker's life: later payloads are redacted of it too.
    const [later] = await new RedactingCodec().encode([payload('boundary-listed-4e5f')]);
    expect(decode(later)).toBe('[redacted:UT_BOUNDARY_LISTED]');
    // A cancellation keeps its class.
    const cancelled = new CancelledFailure('stopped boundary-0a1b2c3d');
    await expect(inbound!.execute!(input, () => Promise.reject(cancelled))).rejects.toBeInstanceOf(CancelledFailure);
    expect(cancelled.message).toBe('stopped [redacted:FLOTILLA_UT_BOUNDARY_TOKEN]');
    // The result, before the SDK encodes it.
    const result = { summary: 'used boundary-listed-4e5f', n: 1 };
    await expect(inbound!.execute!(input, () => Promise.resolve(result))).resolves.toEqual({
      summary: 'used [redacted:UT_BOUNDARY_LISTED]',
      n: 1,
    });
    await expect(inbound!.execute!(input, () => Promise.resolve('fine'))).resolves.toBe('fine');
  });
});

test('the mission file refuses TEMPORAL_* names in agent.env, resolver.env and env: (file, field, reason, fix)', async () => {
  const dir = makeRepo();
  const file = path.join(dir, 'mission.yaml');
  writeFileSync(
    file,
    `id: t
env: [NPM_TOKEN, TEMPORAL_ADDRESS]
agent: { runtime: command, command: [bash, -c, 'true'], env: [TEMPORAL_API_KEY] }
resolver: { env: [TEMPORAL_TLS_KEY] }
tasks:
  - { id: a, prompt: p }
`,
  );
  const err = (await loadMission(file).catch((e: unknown) => e)) as MissionFileError;
  expect(err).toBeInstanceOf(MissionFileError);
  expect(err.message).toContain(file);
  expect(err.problems.map((p) => p.path)).toEqual(['agent.env[0]', 'env[1]', 'resolver.env[0]']);
  for (const p of err.problems) {
    expect(p.reason).toMatch(/the worker's own Temporal setting or credential \(TEMPORAL_\*\).*remove it/);
    expect(p.fix.length).toBeGreaterThan(0);
  }
  writeFileSync(
    file,
    `id: t\nenv: [NPM_TOKEN]\nagent: { runtime: command, command: [bash, -c, 'true'] }\ntasks:\n  - { id: a, prompt: p }\n`,
  );
  expect((await loadMission(file)).spec.env).toEqual(['NPM_TOKEN']);
});
