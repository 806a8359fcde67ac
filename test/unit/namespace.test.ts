/**
 * The runtime namespace allocator (src/agents/namespace.ts): slots unique and lowest first, ports
 * free and unique, released, kept across a restart (a fresh module reading the same file), stale
 * reservations dropped.
 */
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  namespaceEnv,
  releaseNamespace,
  reservations,
  reserveNamespace,
  RuntimeNamespace,
} from '../../src/agents/namespace';
import type { NamespaceRequest } from '../../src/mission/types';

let home: string;
let wt: string;
// A range of its own per test file run, so parallel test files do not meet here.
const lo = 40000 + (process.pid % 200) * 100;
const env = { FLOTILLA_PORT_RANGE: `${lo}-${lo + 99}` };

beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'flotilla-ns-'));
  wt = path.join(home, 'wt');
  mkdirSync(wt);
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

const req = (taskId: string | undefined, ports = 2, runId = 'run-1'): NamespaceRequest => ({
  missionId: 'm',
  ...(taskId !== undefined ? { taskId } : {}),
  runId,
  ports,
});

const reserve = (r: NamespaceRequest, worktree = wt): Promise<RuntimeNamespace> =>
  reserveNamespace(home, r, { worktree, env });

test('slots are unique and lowest first; ports are unique and in the range', async () => {
  const all = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((t) => reserve(req(t, 3))));
  expect(all.map((n) => n.slot).sort()).toEqual([0, 1, 2, 3, 4, 5]);
  const ports = all.flatMap((n) => n.ports);
  expect(new Set(ports).size).toBe(18);
  for (const p of ports) expect(p >= lo && p <= lo + 99).toBe(true);
  await releaseNamespace(home, { missionId: 'm', taskId: 'c' });
  // The freed slot is the lowest one free: the next task takes it.
  expect((await reserve(req('g', 1))).slot).toBe(all[2].slot);
});

test('a port something listens on is never reserved', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(lo, '0.0.0.0', resolve));
  try {
    const ns = await reserve(req('a', 3));
    expect(ns.ports).not.toContain(lo);
    expect(ns.ports).toHaveLength(3);
  } finally {
    server.close();
  }
});

test('the same task and run get the same namespace back, also after a restart', async () => {
  const first = await reserve(req('a'));
  await reserve(req('b'));
  let again: RuntimeNamespace | undefined;
  await new Promise<void>((resolve, reject) =>
    jest.isolateModules(() => {
      // A fresh copy of the module (no memory of the first): only the file on the host remains.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fresh = require('../../src/agents/namespace') as typeof import('../../src/agents/namespace');
      fresh
        .reserveNamespace(home, req('a'), { worktree: wt, env })
        .then((n) => (again = n))
        .then(() => resolve(), reject);
    }),
  );
  expect(again).toEqual(first);
  expect(existsSync(first.tmpdir)).toBe(true);
});

test('release ends the reservation and removes its temp folder', async () => {
  const a = await reserve(req('a'));
  await releaseNamespace(home, { missionId: 'm', taskId: 'a', runId: 'run-1' });
  expect(reservations(home)).toEqual([]);
  expect(existsSync(a.tmpdir)).toBe(false);
  // Releasing again (a retried activity) is fine.
  await releaseNamespace(home, { missionId: 'm', taskId: 'a', runId: 'run-1' });
});

test('stale reservations are dropped: worktree gone, a newer run of the task', async () => {
  const other = path.join(home, 'other');
  mkdirSync(other);
  const gone = await reserve(req('a'), other);
  const old = await reserve(req('b', 2, 'run-1'));
  rmSync(other, { recursive: true });
  const newer = await reserve(req('b', 2, 'run-2'));
  const keys = reservations(home).map((r) => `${r.key}@${r.runId}`);
  expect(keys).toEqual(['m/b@run-2']);
  expect(existsSync(gone.tmpdir)).toBe(false);
  expect(old.slot).toBe(1);
  expect(newer.slot).toBe(0);
});

test('a reservation held by a process that is gone is stale', async () => {
  const store = path.join(home, 'namespaces.json');
  await reserveNamespace(home, req(undefined), { worktree: wt, env, activity: true });
  const r = reservations(home)[0];
  expect(r.holder?.pid).toBe(process.pid);
  // Rewrite the holder as a process that does not exist (pid 2^22 + 1 is above pid_max's default).
  const fs = await import('node:fs');
  fs.writeFileSync(store, JSON.stringify({ reservations: [{ ...r, holder: { ...r.holder, pid: 4194305 } }] }));
  await reserve(req('x'));
  expect(reservations(home).map((x) => x.key)).toEqual(['m/x']);
});

test('namespaceEnv: slot, ports, compose project, TMPDIR', async () => {
  const ns = await reserve(req('api', 2));
  expect(namespaceEnv(ns)).toEqual({
    FLOTILLA_SLOT: '0',
    FLOTILLA_PORTS: ns.ports.join(' '),
    FLOTILLA_PORT: String(ns.ports[0]),
    COMPOSE_PROJECT_NAME: 'flotilla-m-api',
    TMPDIR: ns.tmpdir,
  });
  const none = namespaceEnv(await reserve(req('web', 0)));
  expect(none.FLOTILLA_PORT).toBeUndefined();
  expect(none.FLOTILLA_SLOT).toBe('1');
});
