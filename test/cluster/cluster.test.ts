/**
 * Flotilla on a production Temporal service (`npm run test:cluster`; not part of `npm test`):
 * `scripts/temporal-cluster up` builds (first time) and starts PostgreSQL, the Temporal server and
 * its Web UI on free loopback ports with a namespace of its own; `./flotilla run` runs a mission
 * there with nothing but the variables the script prints; the mission's search attributes have
 * their types and the server's SQL visibility finds it by `FlotillaPhase = 'completed'`, directly
 * and through the Web UI server; docker-compose.yml's init script registers the same attributes;
 * `down` stops every process it started.
 */
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/client/config';
import { findTemporalCli } from '../../src/client/server';
import { SEARCH_ATTRIBUTE_TYPES, SEARCH_ATTRIBUTES } from '../../src/mission/types';
import { runCli } from '../helpers/cli';
import {
  clusterScript,
  composeScript,
  freeFrontendPort,
  logTail,
  parseExports,
  processAlive,
  ScriptResult,
} from '../helpers/cluster';
import { git, makeRepo, tempDir } from '../helpers/git';
import { freePort } from '../helpers/net';

const dir = tempDir('flotilla-cluster-');
const home = tempDir('flotilla-cluster-home-');
const NAMESPACE = 'flotilla-ci';
let ports: { port: number; ui: number; pg: number };
let exported: Record<string, string> = {};
const figures: Record<string, number> = {};

const env = (): NodeJS.ProcessEnv => ({ FLOTILLA_CLUSTER_DIR: dir });
const cluster = (args: string[]): Promise<ScriptResult> => clusterScript(args, env());

/** The variables `up` printed; fails the test (instead of falling back to 127.0.0.1:7233) without them. */
function exports(): Record<string, string> {
  expect(exported.TEMPORAL_ADDRESS).toMatch(/^127\.0\.0\.1:\d+$/);
  return exported;
}

/** The pids of what `up` started: the server and UI (pid files), PostgreSQL (postmaster.pid). */
function startedPids(): number[] {
  const pids = ['server', 'ui'].map((n) => Number(readFileSync(path.join(dir, 'run', `${n}.pid`), 'utf8')));
  const postmaster = readFileSync(path.join(dir, 'pg', 'data', 'postmaster.pid'), 'utf8');
  return [...pids, Number(postmaster.split('\n')[0])];
}

beforeAll(async () => {
  ports = { port: await freeFrontendPort(), ui: await freePort(), pg: await freePort() };
}, 60_000);

afterAll(async () => {
  const down = await cluster(['down', '--purge']);
  expect(down.code).toBe(0);
  console.log(`temporal-cluster figures (ms): ${JSON.stringify(figures)}`);
}, 120_000);

let pids: number[] = [];

test('up builds and starts the service, prints only the export lines to eval, and a second up finds it running', async () => {
  const up = await cluster([
    'up',
    '--port',
    String(ports.port),
    '--ui-port',
    String(ports.ui),
    '--pg-port',
    String(ports.pg),
    '--namespace',
    NAMESPACE,
  ]);
  figures.firstUp = up.ms;
  expect({ code: up.code, stderr: up.code === 0 ? '' : up.stderr + logTail(dir) }).toEqual({ code: 0, stderr: '' });
  expect(up.stdout).toBe(
    [
      `export TEMPORAL_ADDRESS=127.0.0.1:${ports.port}`,
      `export TEMPORAL_NAMESPACE=${NAMESPACE}`,
      `export FLOTILLA_UI_URL=http://localhost:${ports.ui}`,
      '',
    ].join('\n'),
  );
  exported = parseExports(up.stdout);
  pids = startedPids();
  expect(pids.every(processAlive)).toBe(true);

  const again = await cluster(['up']);
  figures.upWhileRunning = again.ms;
  expect(again.code).toBe(0);
  expect(again.stdout).toBe(up.stdout);
  expect(again.stderr).not.toMatch(/starting|creating|registering/);
  expect(startedPids()).toEqual(pids);

  const status = await cluster(['status']);
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(new RegExp(`postgresql: +running on 127.0.0.1:${ports.pg}`));
  expect(status.stdout).toMatch(
    new RegExp(`temporal: +running on 127.0.0.1:${ports.port} .*server 1\\.29\\.1, namespace ${NAMESPACE}\\), SERVING`),
  );
  expect(status.stdout).toMatch(new RegExp(`web ui: +running on http://localhost:${ports.ui} .*ui 2\\.42\\.1`));
}, 1_800_000);

test('a mission runs there with only the exported variables; visibility finds it by its typed search attributes', async () => {
  const repo = makeRepo();
  const file = path.join(repo, 'mission.yaml');
  writeFileSync(
    file,
    [
      'id: on-postgres',
      'concurrency: 2',
      'agent:',
      '  runtime: command',
      '  command: [bash, -c, \'echo "$FLOTILLA_TASK_ID" > "$FLOTILLA_TASK_ID.txt"\']',
      '  timeout: 1m',
      'tasks:',
      '  - { id: a, prompt: write a }',
      '  - { id: b, prompt: write b }',
      '  - { id: c, prompt: write c, dependsOn: [a, b] }',
      '',
    ].join('\n'),
  );
  git(repo, 'add', 'mission.yaml');
  git(repo, 'commit', '--quiet', '-m', 'mission');
  const run = await runCli(['run', file], {
    env: { ...exports(), FLOTILLA_HOME: home, FLOTILLA_TASK_QUEUE: 'flotilla-cluster' },
  });
  figures.mission = run.ms;
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.stdout).toMatch(/mission on-postgres completed in .*: 3\/3 tasks merged/);
  expect(run.stdout).toContain(
    `Web UI: ${exported.FLOTILLA_UI_URL}/namespaces/${NAMESPACE}/workflows/mission-on-postgres`,
  );
  expect(git(repo, 'show', 'flotilla/on-postgres/integration:c.txt')).toBe('c');

  const config = loadConfig(exported);
  const connection = await Connection.connect(config.connection);
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: NAMESPACE });
    const { IndexedValueType } = temporal.api.enums.v1;
    expect(customAttributes).toEqual(
      Object.fromEntries(
        (Object.keys(SEARCH_ATTRIBUTES) as Array<keyof typeof SEARCH_ATTRIBUTES>).map((k) => [
          SEARCH_ATTRIBUTES[k],
          IndexedValueType[`INDEXED_VALUE_TYPE_${SEARCH_ATTRIBUTE_TYPES[k]}`],
        ]),
      ),
    );
    const client = new Client({ connection, namespace: config.namespace });
    const query = "FlotillaPhase = 'completed' AND FlotillaMissionId = 'on-postgres'";
    // Visibility is written after the workflow closes: give it a moment.
    let found: string[] = [];
    for (let i = 0; i < 50 && found.length === 0; i++) {
      found = [];
      for await (const w of client.workflow.list({ query })) found.push(w.workflowId);
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found).toEqual(['mission-on-postgres']);
    // The Web UI server answers from the same service (its HTTP API, as the browser calls it).
    const res = await fetch(
      `${exported.FLOTILLA_UI_URL}/api/v1/namespaces/${NAMESPACE}/workflows?query=${encodeURIComponent(query)}`,
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { executions: Array<{ execution: { workflowId: string } }> };
    expect(body.executions.map((e) => e.execution.workflowId)).toEqual(['mission-on-postgres']);
  } finally {
    await connection.close();
  }
}, 300_000);

test("docker-compose.yml's init script registers a namespace and Flotilla's attributes with their types", async () => {
  const cli = findTemporalCli();
  expect(cli).toBeDefined();
  exports();
  const started = Date.now();
  await promisify(execFile)('sh', ['-ec', composeScript('temporal-init')], {
    env: {
      ...process.env,
      PATH: `${path.dirname(cli!)}${path.delimiter}${process.env.PATH}`,
      TEMPORAL_ADDRESS: exported.TEMPORAL_ADDRESS,
      NAMESPACE: 'flotilla-compose',
    },
    timeout: 120_000,
  });
  figures.composeInit = Date.now() - started;
  const connection = await Connection.connect(loadConfig(exported).connection);
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({
      namespace: 'flotilla-compose',
    });
    const { IndexedValueType } = temporal.api.enums.v1;
    for (const k of Object.keys(SEARCH_ATTRIBUTES) as Array<keyof typeof SEARCH_ATTRIBUTES>)
      expect([SEARCH_ATTRIBUTES[k], customAttributes?.[SEARCH_ATTRIBUTES[k]]]).toEqual([
        SEARCH_ATTRIBUTES[k],
        IndexedValueType[`INDEXED_VALUE_TYPE_${SEARCH_ATTRIBUTE_TYPES[k]}`],
      ]);
  } finally {
    await connection.close();
  }
}, 180_000);

test('down stops everything up started; up again comes back on the same data; down again', async () => {
  exports();
  const down = await cluster(['down']);
  expect(down.code).toBe(0);
  expect(pids.filter(processAlive)).toEqual([]);
  const status = await cluster(['status']);
  expect(status.code).toBe(1);
  expect(status.stdout).toMatch(/postgresql: +stopped\ntemporal: +stopped\nweb ui: +stopped/);

  const up = await cluster(['up']);
  figures.secondUp = up.ms;
  expect({ code: up.code, stderr: up.code === 0 ? '' : up.stderr + logTail(dir) }).toEqual({ code: 0, stderr: '' });
  expect(parseExports(up.stdout)).toEqual(exported);
  const config = loadConfig(exported);
  const connection = await Connection.connect(config.connection);
  try {
    const client = new Client({ connection, namespace: config.namespace });
    expect((await client.workflow.getHandle('mission-on-postgres').describe()).status.name).toBe('COMPLETED');
  } finally {
    await connection.close();
  }
  const again = startedPids();
  expect((await cluster(['down'])).code).toBe(0);
  expect(again.filter(processAlive)).toEqual([]);
  expect(existsSync(path.join(dir, 'run', 'server.pid'))).toBe(false);
}, 300_000);
