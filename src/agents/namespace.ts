/**
 * Each running task's runtime namespace on its host (README "The mission file", `ports`): a slot
 * number (`FLOTILLA_SLOT`, 0..n-1, unique among the namespaces reserved on this host, all missions
 * together), a block of free TCP ports (`FLOTILLA_PORTS`, `FLOTILLA_PORT`), a compose project name
 * (`COMPOSE_PROJECT_NAME`) and a private `TMPDIR`, which setup, the agent, the gate and the
 * resolver of the task get in their environments (environment.ts), and the mission verify its own.
 *
 * Reservations are kept on the host, in `$FLOTILLA_HOME/namespaces.json` (mode 0600), read and
 * written under a file lock (proper-lockfile, `namespaces.json.lock`), so every worker of the host
 * sharing that `FLOTILLA_HOME` sees them and a worker restart keeps them: a retry of the same task
 * (same mission, task and run) gets the same slot and ports back. A reservation ends
 * - when it is released (the task workflow's `releaseNamespace` at its end, the merge queue's
 *   removal of a merged task's worktree, the end of a mission verify);
 * - when it is found stale by the next reservation on the host: its worktree is gone (removed by
 *   the merge queue or `flotilla clean`), a newer run of the same mission reserved the same task
 *   (the run that owned it is gone), or, for a reservation held for one activity only (the mission
 *   verify), the worker process that held it is gone (its identity: pid, start time, boot id).
 * Ports are checked free (nothing listens on them, IPv4 and IPv6 wildcard) when reserved and are
 * never given to two live reservations; they come from `FLOTILLA_PORT_RANGE` of the worker
 * (`LOW-HIGH`, default 20000-29999: below Linux's ephemeral range, 32768-60999, so outgoing
 * connections do not take them meanwhile).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { privateDir } from '../secrets/secrets';
import type { NamespaceRequest } from '../mission/types';
import { identify, ProcessIdentity } from './pid-file';

export type { NamespaceRequest };

/** A reserved namespace: what {@link namespaceEnv} turns into environment variables. */
export interface RuntimeNamespace {
  slot: number;
  /** The reserved TCP ports, ascending. */
  ports: number[];
  /** The private temp folder (mode 0700), removed when the reservation ends. */
  tmpdir: string;
  /** `flotilla-<mission>-<task>` (`-resolver` for a resolver; `flotilla-<mission>` for the verify). */
  composeProject: string;
}

/** One reservation as kept in `namespaces.json`. */
export interface Reservation extends RuntimeNamespace {
  key: string;
  runId: string;
  /** The worktree it is for: the reservation is stale once that folder is gone. */
  worktree: string;
  /** Set for a reservation held by one activity: stale once this process is gone. */
  holder?: ProcessIdentity;
}

interface Store {
  reservations: Reservation[];
}

/** The default port range, `FLOTILLA_PORT_RANGE` of the worker overrides it (`LOW-HIGH`). */
export const DEFAULT_PORT_RANGE: readonly [number, number] = [20000, 29999];

/** Where reservations are kept: `$FLOTILLA_HOME/namespaces.json`. */
export function namespaceFile(home: string): string {
  return path.join(home, 'namespaces.json');
}

/** The key of a request: `<mission>/<task>`, `<mission>/<task>#resolver`, or `<mission>#verify`. */
export function namespaceKey(req: Pick<NamespaceRequest, 'missionId' | 'taskId' | 'role'>): string {
  if (req.taskId === undefined) return `${req.missionId}#verify`;
  return `${req.missionId}/${req.taskId}${req.role ? `#${req.role}` : ''}`;
}

function composeName(req: NamespaceRequest): string {
  if (req.taskId === undefined) return `flotilla-${req.missionId}`;
  return `flotilla-${req.missionId}-${req.taskId}${req.role ? `-${req.role}` : ''}`;
}

function tmpFolder(home: string, req: NamespaceRequest): string {
  const leaf = req.taskId === undefined ? '_verify' : `${req.taskId}${req.role ? `_${req.role}` : ''}`;
  return path.join(home, 'tmp', req.missionId, leaf);
}

/** The port range of this worker: `FLOTILLA_PORT_RANGE=LOW-HIGH`, else {@link DEFAULT_PORT_RANGE}. */
export function portRange(env: NodeJS.ProcessEnv = process.env): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(env.FLOTILLA_PORT_RANGE?.trim() ?? '');
  const [lo, hi] = m ? [Number(m[1]), Number(m[2])] : DEFAULT_PORT_RANGE;
  return lo >= 1024 && hi <= 65535 && lo <= hi ? [lo, hi] : [DEFAULT_PORT_RANGE[0], DEFAULT_PORT_RANGE[1]];
}

/** True when `identity` still names a running process (same pid, start time and boot). */
function alive(identity: ProcessIdentity): boolean {
  const now = identify(identity.pid);
  return now !== undefined && now.startTime === identity.startTime && now.bootId === identity.bootId;
}

/** True when reservation `r` still holds: its worktree exists and its holder, if any, runs. */
function live(r: Reservation): boolean {
  return existsSync(r.worktree) && (r.holder === undefined || alive(r.holder));
}

function readStore(file: string): Store {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Store>;
    return { reservations: Array.isArray(parsed.reservations) ? parsed.reservations : [] };
  } catch {
    return { reservations: [] };
  }
}

function writeStore(file: string, store: Store): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(store, null, 1)}\n`, { mode: 0o600 });
  // A rename replaces the file whole: a reader never sees half of it.
  renameSync(tmp, file);
}

/** Runs `fn` on the store under its file lock, and writes back what it returns. */
async function withStore<T>(home: string, fn: (store: Store) => Promise<T>): Promise<T> {
  privateDir(home);
  const file = namespaceFile(home);
  const unlock = await lockfile.lock(file, {
    lockfilePath: `${file}.lock`,
    realpath: false,
    stale: 10_000,
    retries: { retries: 200, factor: 1.2, minTimeout: 20, maxTimeout: 500 },
    onCompromised: () => undefined,
  });
  try {
    const store = readStore(file);
    const result = await fn(store);
    writeStore(file, store);
    return result;
  } finally {
    await unlock().catch(() => undefined);
  }
}

/** True when nothing listens on `port` (a listen on the IPv4 and, where there is one, IPv6 wildcard succeeds). */
export async function portFree(port: number): Promise<boolean> {
  const tryListen = (host: string): Promise<boolean | null> =>
    new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', (err: NodeJS.ErrnoException) =>
        resolve(err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT' ? null : false),
      );
      server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
    });
  return (await tryListen('0.0.0.0')) !== false && (await tryListen('::')) !== false;
}

/** The first `count` ports in `range` that no reservation holds and nothing listens on. */
async function freeBlock(count: number, taken: Set<number>, range: [number, number]): Promise<number[]> {
  if (count === 0) return [];
  const [lo, hi] = range;
  const out: number[] = [];
  for (let port = lo; port <= hi && out.length < count; port++) {
    if (!taken.has(port) && (await portFree(port))) out.push(port);
  }
  if (out.length < count)
    throw new Error(`no ${count} free TCP ports in ${lo}-${hi} (FLOTILLA_PORT_RANGE): free some, or widen the range`);
  return out;
}

function lowestFreeSlot(used: Set<number>): number {
  let slot = 0;
  while (used.has(slot)) slot++;
  return slot;
}

/** How {@link reserveNamespace} holds a reservation. */
export interface ReserveOptions {
  /** The worktree the namespace is for (the reservation is stale once it is gone). */
  worktree: string;
  /** Hold it only while this process lives (the mission verify): it is released at the activity's end. */
  activity?: boolean;
  /** The worker's environment (its `FLOTILLA_PORT_RANGE`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Reserves (or finds again) the namespace of `req` on this host: the same mission, task and run
 * get back what they hold (a retry, a worker restart); a reservation of another run of the same
 * task is replaced, stale ones (see the module's comment) are dropped first.
 * @throws Error when the port range has no `req.ports` free ports left
 */
export async function reserveNamespace(
  home: string,
  req: NamespaceRequest,
  opts: ReserveOptions,
): Promise<RuntimeNamespace> {
  const key = namespaceKey(req);
  return withStore(home, async (store) => {
    const kept = store.reservations.filter((r) => live(r) && !(r.key === key && r.runId !== req.runId));
    for (const r of store.reservations) if (!kept.includes(r)) rmSync(r.tmpdir, { recursive: true, force: true });
    store.reservations = kept;
    const mine = kept.find((r) => r.key === key);
    if (mine && mine.ports.length === req.ports && mine.worktree === opts.worktree) return withTmp(mine);
    const others = kept.filter((r) => r !== mine);
    const reservation: Reservation = {
      key,
      runId: req.runId,
      worktree: opts.worktree,
      slot: mine?.slot ?? lowestFreeSlot(new Set(others.map((r) => r.slot))),
      ports:
        mine && mine.ports.length === req.ports
          ? mine.ports
          : await freeBlock(req.ports, new Set(others.flatMap((r) => r.ports)), portRange(opts.env)),
      tmpdir: tmpFolder(home, req),
      composeProject: composeName(req),
      ...(opts.activity ? { holder: identify(process.pid) } : {}),
    };
    store.reservations = [...others, reservation];
    return withTmp(reservation);
  });
}

/** The namespace part of `r`, its temp folder made (mode 0700) when it is missing. */
function withTmp(r: Reservation): RuntimeNamespace {
  mkdirSync(r.tmpdir, { recursive: true, mode: 0o700 });
  return { slot: r.slot, ports: r.ports, tmpdir: r.tmpdir, composeProject: r.composeProject };
}

/**
 * Ends the reservation of `req` (its mission, task and role; of any run when `runId` is absent)
 * and removes its temp folder. Nothing reserved: nothing to do.
 */
export async function releaseNamespace(
  home: string,
  req: Pick<NamespaceRequest, 'missionId' | 'taskId' | 'role'> & { runId?: string },
): Promise<void> {
  if (!existsSync(namespaceFile(home))) return;
  const key = namespaceKey(req);
  await withStore(home, async (store) => {
    const gone = store.reservations.filter((r) => r.key === key && (req.runId === undefined || r.runId === req.runId));
    for (const r of gone) rmSync(r.tmpdir, { recursive: true, force: true });
    store.reservations = store.reservations.filter((r) => !gone.includes(r));
  });
}

/** Every reservation on this host, as kept (for tests and diagnostics). */
export function reservations(home: string): Reservation[] {
  return readStore(namespaceFile(home)).reservations;
}

/**
 * The environment variables of a namespace: `FLOTILLA_SLOT`, `COMPOSE_PROJECT_NAME`, `TMPDIR`,
 * and with ports `FLOTILLA_PORTS` (space-separated) and `FLOTILLA_PORT` (the first).
 */
export function namespaceEnv(ns: RuntimeNamespace): Record<string, string> {
  return {
    FLOTILLA_SLOT: String(ns.slot),
    COMPOSE_PROJECT_NAME: ns.composeProject,
    TMPDIR: ns.tmpdir,
    ...(ns.ports.length > 0 ? { FLOTILLA_PORTS: ns.ports.join(' '), FLOTILLA_PORT: String(ns.ports[0]) } : {}),
  };
}

/**
 * Runs `fn` with the environment of `req`'s namespace (reserved for `worktree`; see
 * {@link reserveNamespace}), or with none when there is no request. A mission verify's namespace
 * (no `taskId`) is held by this process only and released when `fn` settles; a task's stays
 * reserved for its next step.
 */
export async function withNamespace<T>(
  home: string | undefined,
  req: NamespaceRequest | undefined,
  worktree: string,
  fn: (env: Record<string, string>) => Promise<T>,
): Promise<T> {
  if (home === undefined || req === undefined) return fn({});
  const activity = req.taskId === undefined;
  const ns = await reserveNamespace(home, req, { worktree, activity });
  try {
    return await fn(namespaceEnv(ns));
  } finally {
    if (activity) await releaseNamespace(home, req);
  }
}
