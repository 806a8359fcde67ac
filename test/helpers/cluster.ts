/**
 * `scripts/temporal-cluster` and `docker-compose.yml` as tests read them: the facts both must
 * agree on (versions, ports, Flotilla's search attributes), and the script run as a user runs it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { ROOT } from './cli';

export const CLUSTER_SCRIPT = path.join(ROOT, 'scripts', 'temporal-cluster');

/** A shell variable assigned at the start of a line of the script (`NAME=value`). */
export function scriptVariable(name: string): string {
  const m = new RegExp(`^${name}=(\\S+)`, 'm').exec(readFileSync(CLUSTER_SCRIPT, 'utf8'));
  if (!m) throw new Error(`${CLUSTER_SCRIPT} assigns no ${name}`);
  return m[1];
}

/** The script's defaults: `PORT=7233 UI_PORT=8080 ...` on one line. */
export function scriptDefaults(): Record<string, string> {
  const line = /^PORT=.*$/m.exec(readFileSync(CLUSTER_SCRIPT, 'utf8'))![0];
  return Object.fromEntries(line.split(/\s+/).map((kv) => kv.split('=') as [string, string]));
}

/** The script's SEARCH_ATTRIBUTES: name -> the CLI's type name (`FlotillaProgress` -> `Int`). */
export function scriptSearchAttributes(): Record<string, string> {
  const body = /^SEARCH_ATTRIBUTES=\(([^)]*)\)/m.exec(readFileSync(CLUSTER_SCRIPT, 'utf8'))![1];
  return Object.fromEntries(
    body
      .trim()
      .split(/\s+/)
      .map((kv) => kv.split('=') as [string, string]),
  );
}

interface ComposeService {
  image: string;
  ports?: string[];
  environment?: Record<string, string>;
  command?: string[];
}

/** docker-compose.yml's services. */
export function composeServices(): Record<string, ComposeService> {
  const doc = YAML.parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, ComposeService>;
  };
  return doc.services;
}

/** The shell script a compose service runs (`sh -ec SCRIPT`), with Compose's `$$` escapes undone. */
export function composeScript(service: string): string {
  const command = composeServices()[service].command;
  if (!command) throw new Error(`docker-compose.yml: ${service} has no command`);
  return command.join('\n').replace(/\$\$/g, '$');
}

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `scripts/temporal-cluster ARGS` to its end with `env` added to this process's. */
export function clusterScript(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ScriptResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(CLUSTER_SCRIPT, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

/** The variables of `export NAME=value` lines (what `eval "$(scripts/temporal-cluster up)"` sets). */
export function parseExports(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split('\n')
      .map((line) => /^export ([A-Z_]+)=(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => [m[1], m[2]]),
  );
}

export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A frontend port whose neighbours (the other services: +1, +2, +6, +10, -300...) are free too,
 * below the ephemeral range: the membership ports must fit a PostgreSQL smallint (<= 32767).
 */
export async function freeFrontendPort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const all = [0, 1, 2, 6, 10, -300, -299, -298, -294].map((d) => port + d);
    if ((await Promise.all(all.map(portFree))).every(Boolean)) return port;
  }
}

/** Whether `pid` runs (a zombie that init has not reaped yet does not). */
export function processAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The end of the server's log under the cluster directory `dir`, to show with a failed `up` (`down --purge` deletes it). */
export function logTail(dir: string): string {
  try {
    return readFileSync(path.join(dir, 'logs', 'temporal-server.log'), 'utf8').slice(-3000);
  } catch {
    return '';
  }
}
