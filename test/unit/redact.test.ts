/**
 * Values of the variables a mission names (`agent.env`) never reach workflow history: the
 * redaction helper, and the activities that return or throw text (runAgent, runChecks, setup).
 */
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { MIN_REDACTED_LENGTH, redact, Redactor } from '../../src/activities/redact';
import { git, makeRepo, tempDir } from '../helpers/git';
import { bashAgent } from '../helpers/missions';

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

  test("redacts an error's message in place, keeping its type and flags", async () => {
    const r = new Redactor(['API_KEY'], env);
    const err = ApplicationFailure.nonRetryable('curl -H "x-api-key: sk-live-123456" failed', 'AgentAuth');
    await expect(r.guard(() => Promise.reject(err))).rejects.toMatchObject({
      message: 'curl -H "x-api-key: [redacted:API_KEY]" failed',
      type: 'AgentAuth',
      nonRetryable: true,
    });
    expect(err.stack).not.toContain('sk-live-123456');
  });

  test('redact() reads the values from the worker environment', () => {
    process.env.FLOTILLA_REDACT_TEST = 'abcd-efgh';
    expect(redact('x abcd-efgh y', ['FLOTILLA_REDACT_TEST'])).toBe('x [redacted:FLOTILLA_REDACT_TEST] y');
  });
});

describe('activities redact the values of named variables', () => {
  const home = tempDir('flotilla-home-');
  const acts = createActivities({ home, hostQueue: 'q@test' });
  const SECRET = 'tok-9f8e7d6c5b4a';
  beforeAll(() => {
    process.env.FLOTILLA_SECRET_TOKEN = SECRET;
  });
  afterAll(() => {
    delete process.env.FLOTILLA_SECRET_TOKEN;
  });
  const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R> =>
    new MockActivityEnvironment().run(fn, ...args) as Promise<R>;

  test('runAgent: the summary and the failure message', async () => {
    const wt = tempDir('wt-');
    const input = (script: string) => ({
      missionId: 'm',
      taskId: path.basename(wt),
      worktree: wt,
      branch: 'flotilla/m/tasks/t',
      baseSha: 'HEAD',
      agent: bashAgent(script, { env: ['FLOTILLA_SECRET_TOKEN'] }),
      prompt: 'p',
      taskPrompt: 'p',
      iteration: 1,
    });
    const ok = await run(acts.runAgent, input('echo "using $FLOTILLA_SECRET_TOKEN"'));
    expect(ok.summary).toBe('using [redacted:FLOTILLA_SECRET_TOKEN]');
    const err = (await run(acts.runAgent, input('echo "401 for $FLOTILLA_SECRET_TOKEN" >&2; exit 3')).catch(
      (e: unknown) => e,
    )) as ApplicationFailure;
    expect(err).toMatchObject({ type: 'AgentExit' });
    expect(err.message).toBe('agent exited with code 3: 401 for [redacted:FLOTILLA_SECRET_TOKEN]');
  });

  test('runChecks: the output tail of a failing verify command', async () => {
    const dir = tempDir('checks-');
    const r = await run(acts.runChecks, {
      cwd: dir,
      commands: ['echo "token is $FLOTILLA_SECRET_TOKEN"; exit 1'],
      timeoutMs: 30_000,
      logFile: path.join(dir, 'verify.log'),
      env: ['FLOTILLA_SECRET_TOKEN'],
    });
    expect(r.ok).toBe(false);
    expect(r.failed!.outputTail).toBe('token is [redacted:FLOTILLA_SECRET_TOKEN]\n');
  });

  test('prepareWorktree: the message of a failing setup command', async () => {
    const repo = makeRepo();
    const err = (await run(acts.prepareWorktree, {
      missionId: 'red',
      runId: '0190bbbb-bbbb-7ccc-8ddd-eeeeeeeeeeee',
      taskId: 's',
      repo,
      baseSha: git(repo, 'rev-parse', 'main'),
      setup: ['echo "npm token $FLOTILLA_SECRET_TOKEN rejected"; exit 1'],
      copy: [],
      setupTimeoutMs: 30_000,
      redact: ['FLOTILLA_SECRET_TOKEN'],
    }).catch((e: unknown) => e)) as ApplicationFailure;
    expect(err).toMatchObject({ type: 'SetupFailed' });
    expect(err.message).toContain('npm token [redacted:FLOTILLA_SECRET_TOKEN] rejected');
    expect(err.message).not.toContain(SECRET);
  });
});

test("the worker's Temporal credentials never reach the commands it runs, and are redacted anyway", async () => {
  const key = 'tmprl-api-key-0123456789';
  const before = process.env.TEMPORAL_API_KEY;
  process.env.TEMPORAL_API_KEY = key;
  try {
    const acts = createActivities({ home: tempDir('flotilla-home-'), hostQueue: 'q@h' });
    const cwd = tempDir('flotilla-checks-');
    const r: Awaited<ReturnType<typeof acts.runChecks>> = await new MockActivityEnvironment().run(acts.runChecks, {
      cwd,
      commands: ['echo "key=${TEMPORAL_API_KEY:-unset}"; exit 1'],
      timeoutMs: 30_000,
      logFile: path.join(cwd, 'verify.log'),
      env: [],
    });
    expect(r.failed!.outputTail).toContain('key=unset');
    expect(new Redactor([]).text(`a ${key} b`)).toBe('a [redacted:TEMPORAL_API_KEY] b');
  } finally {
    if (before === undefined) delete process.env.TEMPORAL_API_KEY;
    else process.env.TEMPORAL_API_KEY = before;
  }
});
