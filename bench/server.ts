/**
 * The Temporal dev server the benchmark's Flotilla runs use: started once, before the first run,
 * exactly as Flotilla's embedded server (`startDevArgs` of lib/client/server.js: SQLite file,
 * Flotilla's search attributes), plus a known `--metrics-port` so that the server's own request
 * counters (Prometheus `service_requests` by operation) can be read before and after each run.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** What the benchmark uses of Flotilla's built lib/client/server.js. */
interface FlotillaServerModule {
  ensureTemporalCli(log: (line: string) => void): string | undefined;
  startDevArgs(address: string, db: string): string[];
  temporalReachable(address: string, timeoutMs?: number): Promise<boolean>;
}

export const flotillaLib = (rel: string): string => path.resolve(__dirname, '..', rel);

/** A port nothing listens on now, whose +1000 is free too (the dev server's Web UI). */
async function freePort(): Promise<number> {
  const probe = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
  for (;;) {
    const port = await probe(0);
    if (port + 1000 > 65535) continue;
    try {
      await probe(port + 1000);
      return port;
    } catch {
      // Taken: try another.
    }
  }
}

export interface BenchServer {
  address: string;
  pid: number;
  temporal: string;
  /** The server's request counters now: `service_requests` summed by operation. */
  requests(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Starts the dev server with its database under `dir`; resolves once it answers. */
export async function startServer(dir: string): Promise<BenchServer> {
  // The built CLI's own module, loaded at run time: the bench compiles apart from src/.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const server = require(flotillaLib('client/server.js')) as FlotillaServerModule;
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const metricsPort = await freePort();
  const address = `127.0.0.1:${port}`;
  const temporal = server.ensureTemporalCli((line) => process.stderr.write(`${line}\n`));
  if (!temporal) throw new Error('no temporal CLI: install it or set TEMPORAL_CLI_PATH');
  const args = [...server.startDevArgs(address, path.join(dir, 'temporal.db')), '--metrics-port', String(metricsPort)];
  const child = spawn(temporal, args, { stdio: 'ignore' });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', () => resolve(clearTimeout(timer)));
    });
  };
  process.once('exit', () => child.exitCode === null && child.kill('SIGKILL'));
  const deadline = Date.now() + 120_000;
  while (!(await server.temporalReachable(address, 1000))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`the dev server did not come up at ${address}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  const requests = async (): Promise<Record<string, number>> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return serviceRequests(text);
  };
  return { address, pid: child.pid!, temporal, requests, stop };
}

/**
 * `service_requests` counters of a Prometheus text page summed by `operation` (the frontend's
 * and the other services' gRPC methods, e.g. `QueryWorkflow`, `RespondWorkflowTaskCompleted`).
 */
export function serviceRequests(text: string): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('service_requests{')) continue;
    const op = /operation="([^"]+)"/.exec(line)?.[1] ?? '?';
    const service = /service_name="([^"]+)"/.exec(line)?.[1] ?? '?';
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const key = `${service}:${op}`;
    sums[key] = (sums[key] ?? 0) + value;
  }
  return sums;
}

/** `after - before` per key, zeros left out, most first. */
export function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as [string, number])
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1]),
  );
}

/** Process groups of the runs in progress (bench/measure.ts adds and removes them). */
export const runGroups = new Set<number>();

/**
 * On SIGINT/SIGTERM: the runs in progress get SIGINT (`flotilla run` says the mission goes on and
 * stops its worker; SIGKILL after 10 s), then `cleanup` (stop the server, remove the work
 * folder), then exit 130.
 */
export function onInterrupt(cleanup: () => Promise<void>): void {
  const signalGroups = (s: NodeJS.Signals): void =>
    runGroups.forEach((pgid) => {
      try {
        process.kill(-pgid, s);
      } catch {
        // Gone already.
      }
    });
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      console.error(`${signal}: stopping the runs in progress and the dev server, removing the work folder`);
      signalGroups('SIGINT');
      const deadline = Date.now() + 10_000;
      const wait = async (): Promise<void> => {
        while (runGroups.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
        signalGroups('SIGKILL');
      };
      void wait()
        .then(cleanup)
        .finally(() => process.exit(130));
    });
}
