/**
 * The embedded Temporal service: `temporal server start-dev` (SQLite in `$FLOTILLA_HOME`, Web UI
 * on gRPC port + 1000, i.e. :8233 by default) with Flotilla's search attributes registered
 * (search-attributes.ts), and whether a Temporal service answers at an address.
 *
 * Finding the `temporal` binary: `TEMPORAL_CLI_PATH`, then `PATH`, then `$(go env GOPATH)/bin`;
 * else `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` (newer tags carry a `replace`
 * directive that `go install` refuses); else, without Go, the SDK's own cached download through
 * `@temporalio/testing` (see `sdk-server.ts`).
 */
import { Connection } from '@temporalio/client';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findOnPath } from '../agents/programs';
import { FlotillaConfig, isLoopback, portOf, TemporalConnection } from './config';
import { CliError, EXIT } from './errors';
import { searchAttributeFlags } from './search-attributes';

/** The `go install` target of the Temporal CLI (the last tag `go install` accepts). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

function goBin(): string | undefined {
  const go = findOnPath('go');
  if (!go) return undefined;
  try {
    const gopath = execFileSync(go, ['env', 'GOPATH'], { encoding: 'utf8' }).trim().split(path.delimiter)[0];
    return gopath ? path.join(gopath, 'bin') : undefined;
  } catch {
    return undefined;
  }
}

/** The `temporal` binary to use, or undefined when none is installed. */
export function findTemporalCli(): string | undefined {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv))
      throw new CliError(`TEMPORAL_CLI_PATH=${fromEnv} does not exist; fix or unset it`, EXIT.invalid);
    return fromEnv;
  }
  const onPath = findOnPath('temporal');
  if (onPath) return onPath;
  const bin = goBin();
  if (bin && existsSync(path.join(bin, 'temporal'))) return path.join(bin, 'temporal');
  return undefined;
}

/**
 * Finds or installs the Temporal CLI. Returns its path, or undefined when neither it nor Go is
 * available (the caller then falls back to the SDK's download).
 */
export function ensureTemporalCli(log: (line: string) => void): string | undefined {
  const found = findTemporalCli();
  if (found) return found;
  const go = findOnPath('go');
  if (!go) return undefined;
  log(`installing the Temporal CLI: go install ${TEMPORAL_CLI_MODULE} (first use only; a few minutes)`);
  try {
    execFileSync(go, ['install', TEMPORAL_CLI_MODULE], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    throw new CliError(
      `could not install the Temporal CLI with \`go install ${TEMPORAL_CLI_MODULE}\`; install it by hand and set TEMPORAL_CLI_PATH`,
    );
  }
  return findTemporalCli();
}

/**
 * True when a Temporal frontend answers within `timeoutMs` (ms) at `target`: an address, or a
 * whole connection (TLS, API key) from `FlotillaConfig.connection`.
 */
export async function temporalReachable(target: string | TemporalConnection, timeoutMs = 1500): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    // connect() already asks the frontend for its system info, so success means it answers.
    const options = typeof target === 'string' ? { address: target } : target;
    connection = await Connection.connect({ ...options, connectTimeout: timeoutMs });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** The embedded dev server `run` started, as `$FLOTILLA_HOME/server.json` records it. */
export interface ServerRecord {
  /** The server process (detached: it outlives the `flotilla` that started it). */
  pid: number;
  /** Its gRPC address, `host:port`. */
  address: string;
  /** The Web UI's port (the gRPC port + 1000). */
  uiPort: number;
  /** Its SQLite file. */
  db: string;
  /** Its output. */
  log: string;
  /** Started by the `temporal` CLI, or through the SDK's download (sdk-server.ts). */
  kind: 'cli' | 'sdk';
}

const recordFile = (home: string): string => path.join(home, 'server.json');

/** The embedded dev server's record, or undefined when there is none (or it cannot be read). */
export function readServerRecord(home: string): ServerRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordFile(home), 'utf8')) as ServerRecord;
  } catch {
    return undefined;
  }
}

/** `start-dev` arguments: loopback only, Flotilla's search attributes registered with their types. */
export function startDevArgs(address: string, db: string): string[] {
  const port = portOf(address);
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(port + 1000),
    '--db-filename',
    db,
    '--log-level',
    'warn',
  ];
  return [...args, ...searchAttributeFlags()];
}

/**
 * Starts the embedded dev server in the background (it outlives this process, so the Web UI stays
 * up) and waits until it answers.
 * @throws CliError when the address is not on this machine or the server does not come up in 60 s
 */
export async function startEmbeddedServer(config: FlotillaConfig, log: (line: string) => void): Promise<ServerRecord> {
  // The dev server speaks neither TLS nor API keys: settings for one mean another service.
  if (!isLoopback(config.address) || config.connection.tls || config.connection.apiKey) {
    throw new CliError(
      `no Temporal service answers at ${config.address}; start it, or unset TEMPORAL_ADDRESS (and the TLS and API key settings) to use the embedded dev server`,
    );
  }
  mkdirSync(config.home, { recursive: true, mode: 0o700 });
  const db = path.join(config.home, 'temporal.db');
  const logFile = path.join(config.home, 'server.log');
  const fd = openSync(logFile, 'a', 0o600);
  const cli = ensureTemporalCli(log);
  let child;
  let kind: ServerRecord['kind'] = 'cli';
  if (cli) {
    child = spawn(cli, startDevArgs(config.address, db), { detached: true, stdio: ['ignore', fd, fd] });
  } else {
    kind = 'sdk';
    log('no Temporal CLI and no Go: starting the dev server through the Temporal SDK (downloads the CLI once)');
    child = spawn(process.execPath, [path.join(__dirname, 'sdk-server.js'), config.address, db], {
      detached: true,
      stdio: ['ignore', fd, fd],
    });
  }
  closeSync(fd);
  child.unref();
  const record: ServerRecord = {
    pid: child.pid!,
    address: config.address,
    uiPort: portOf(config.address) + 1000,
    db,
    log: logFile,
    kind,
  };
  writeFileSync(recordFile(config.home), JSON.stringify(record, null, 2));
  const deadline = Date.now() + (kind === 'sdk' ? 300_000 : 60_000);
  while (Date.now() < deadline) {
    if (await temporalReachable(config.address, 1000)) return record;
    if (child.exitCode !== null) break;
    try {
      process.kill(child.pid!, 0);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new CliError(`the embedded Temporal dev server did not come up at ${config.address}; see ${logFile}`);
}

/** Stops the dev server `run` started. @returns false when none was recorded or it was gone. */
export async function stopEmbeddedServer(home: string): Promise<boolean> {
  const record = readServerRecord(home);
  if (!record) return false;
  rmSync(recordFile(home), { force: true });
  try {
    process.kill(record.pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      process.kill(record.pid, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) {
      process.kill(record.pid, 'SIGKILL');
      return true;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
