/**
 * Flotilla's typed search attributes on a Temporal service started by hand, without them: `list`
 * filtering on a missing attribute says so; the CLI's `start` registers them all with their
 * types; registering again adds nothing; missions start with them and `list` filters on them,
 * values with quotes included. (Not backslashes: the dev server's SQLite visibility reads them
 * literally where the filter grammar, and the other stores, read them as escapes.) A namespace
 * where one cannot be registered (registered by hand with another type) starts nothing: the
 * workflows set every attribute, and an upsert the namespace refuses would fail the mission.
 */
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureSearchAttributes } from '../../src/client/search-attributes';
import type { MissionListing } from '../../src/client/visibility';
import { names, SEARCH_ATTRIBUTE_KEYS, SEARCH_ATTRIBUTES } from '../../src/mission/types';
import { runCli } from '../helpers/cli';
import { git, makeRepo, tempDir } from '../helpers/git';
import { EXPECTED_ATTRIBUTE_TYPES, startDevServer } from '../helpers/temporal';

const { IndexedValueType: T } = temporal.api.enums.v1;
let env: TestWorkflowEnvironment;
const home = tempDir('flotilla-sa-home-');

/** A second namespace, where `FlotillaRepo` was registered by hand as Text. */
const WRONG = 'flotilla-sa-wrong';

beforeAll(async () => {
  env = await startDevServer(undefined, ['--namespace', WRONG], { attributes: false });
}, 180_000);

afterAll(async () => {
  await env?.teardown();
});

const flotilla = (args: string[], namespace = 'default') =>
  runCli(args, {
    env: {
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: namespace,
      FLOTILLA_HOME: home,
      FLOTILLA_TASK_QUEUE: 'flotilla-sa-no-worker',
    },
    timeoutMs: 60_000,
  });

const custom = async (namespace = 'default'): Promise<Record<string, number>> =>
  (await env.connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};

/** Visibility is eventually consistent: polls `list` until `pred` holds of its JSON. */
async function listed(args: string[], pred: (ms: MissionListing[]) => boolean): Promise<MissionListing[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await flotilla(['list', '--json', ...args]);
    expect(r.stderr).toBe('');
    const ms = JSON.parse(r.stdout) as MissionListing[];
    if (pred(ms) || Date.now() > deadline) return ms;
    await new Promise((res) => setTimeout(res, 300));
  }
}

test('on a server started by hand, start registers the attributes with their types, and list filters on them', async () => {
  const before = await custom();
  for (const name of Object.keys(EXPECTED_ATTRIBUTE_TYPES)) expect(before).not.toHaveProperty(name);

  // Filtering on an attribute the namespace lacks: what is missing and how to add it, no stack trace.
  const missing = await flotilla(['list', '--repo', '/anywhere']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/namespace default has no search attribute FlotillaRepo/);
  expect(missing.stderr).toContain(
    'temporal operator search-attribute create --namespace default --name FlotillaRepo --type Keyword',
  );
  expect(missing.stderr).not.toMatch(/\n\s+at /);

  // A repository whose path has a quote: the query escapes it.
  const parent = path.join(tempDir('flotilla-sa-'), `it's a repo`);
  mkdirSync(parent);
  const repo = path.join(parent, 'app');
  git(makeRepo(), 'clone', '--quiet', '.', repo);
  const other = makeRepo();
  const file = (id: string, where: string): string => {
    const f = path.join(tempDir('flotilla-sa-file-'), `${id}.json`);
    writeFileSync(
      f,
      JSON.stringify({
        id,
        repo: where,
        agent: { runtime: 'command', command: ['true'] },
        tasks: [
          { id: 'a', prompt: 'p' },
          { id: 'b', prompt: 'p', agent: { runtime: 'codex' } },
        ],
      }),
    );
    return f;
  };
  const started = Date.now();
  const start = await flotilla(['start', file('sa-one', repo)]);
  const startMs = Date.now() - started;
  expect(start.stderr).toBe('');
  expect(start.code).toBe(0);
  expect(start.stdout).not.toMatch(/lacks/);
  console.log(`flotilla start registering 7 search attributes: ${startMs} ms`);

  const after = await custom();
  expect(after).toMatchObject(EXPECTED_ATTRIBUTE_TYPES);
  // Registering again (another run, another client) adds nothing and succeeds.
  for (let i = 0; i < 2; i++) await ensureSearchAttributes(env.connection, 'default');
  expect(await custom()).toEqual(after);
  expect((await flotilla(['start', file('sa-elsewhere', other)])).code).toBe(0);

  // The mission started with its id, phase, repository, every runtime its tasks use, 0% and $0.
  const d = await env.client.workflow.getHandle(names.missionWorkflowId('sa-one')).describe();
  expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.missionId)).toBe('sa-one');
  expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.repo)).toBe(repo);
  expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.runtime)).toEqual(['codex', 'command']);
  expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.progress)).toBe(0);
  expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.costUsd)).toBe(0);
  expect(d.searchAttributes[SEARCH_ATTRIBUTES.phase]).toEqual(['planning']);

  // --repo as the mission file resolves it: a directory inside the repository names it too.
  mkdirSync(path.join(repo, 'src'));
  const byRepo = await listed(['--repo', path.join(repo, 'src', '..')], (ms) => ms.length >= 1);
  expect(byRepo.map((m) => m.missionId)).toEqual(['sa-one']);
  expect(byRepo[0]).toMatchObject({ phase: 'planning', percent: 0, costUsd: 0, repo, runtimes: ['codex', 'command'] });
  const planning = await listed(['--phase', 'planning', '--limit', '2'], (ms) => ms.length === 2);
  expect(planning).toHaveLength(2);
  expect(await listed(['--phase', 'blocked'], () => true)).toEqual([]);

  const table = await flotilla(['list', '--repo', other]);
  expect(table.stdout).toMatch(
    /^mission +phase +done +cost +repo +started \(UTC\) +ended\nsa-elsewhere +planning +0% +\$0\.0000 /,
  );

  const bad = await flotilla(['list', '--phase', 'stuck']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(
    /unknown phase "stuck"\nfix: use one of: planning, running, paused, merging, blocked, completed, failed, cancelled/,
  );
  for (const id of ['sa-one', 'sa-elsewhere'])
    await env.client.workflow.getHandle(names.missionWorkflowId(id)).terminate('test over');
});

test('a namespace where an attribute cannot be registered starts nothing, and says which and why', async () => {
  await env.connection.operatorService.addSearchAttributes({
    namespace: WRONG,
    searchAttributes: { FlotillaRepo: T.INDEXED_VALUE_TYPE_TEXT },
  });
  const f = path.join(tempDir('flotilla-sa-file-'), 'wrong.json');
  writeFileSync(
    f,
    JSON.stringify({
      id: 'sa-wrong',
      repo: makeRepo(),
      agent: { runtime: 'command', command: ['true'] },
      tasks: [{ id: 'a', prompt: 'p' }],
    }),
  );
  const r = await flotilla(['start', f], WRONG);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(
    new RegExp(
      `namespace ${WRONG} cannot hold Flotilla's search attributes.*FlotillaRepo is registered with another type than Keyword`,
    ),
  );
  expect(r.stderr).toMatch(/nothing was started/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  // The others were registered; no workflow was started.
  expect(await custom(WRONG)).toMatchObject({ ...EXPECTED_ATTRIBUTE_TYPES, FlotillaRepo: T.INDEXED_VALUE_TYPE_TEXT });
  const wrong = new Client({ connection: env.connection, namespace: WRONG });
  await expect(wrong.workflow.getHandle(names.missionWorkflowId('sa-wrong')).describe()).rejects.toThrow(
    WorkflowNotFoundError,
  );
});
