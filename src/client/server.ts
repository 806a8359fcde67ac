/**
 * The embedded Temporal service: `temporal server start-dev` (SQLite in `$FLOTILLA_HOME`, Web UI
 * on gRPC port + 1000, i.e. :8233 by default) with Flotilla's search attributes registered.
 *
 * Finding the `temporal` binary: `TEMPORAL_CLI_PATH`, then `PATH`, then `$(go env GOPATH)/bin`;
 * else `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` (newer tags carry a `replace`
 * directive that `go install` refuses); else, without Go, the SDK's own cached download through
 * `@temporalio/testing` (see `sdk-server.ts`).
 */
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SearchAttributeType } from '@temporalio/common';
import { findOnPath } from '../agents/programs';
import { SEARCH_ATTRIBUTE_TYPES, SEARCH_ATTRIBUTES } from '../mission/types';
import { FlotillaConfig, isLoopback, portOf, TemporalConnection } from './config';
import { CliError, EXIT } from './errors';

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

export interface ServerRecord {
  pid: number;
  address: string;
  uiPort: number;
  db: string;
  log: string;
  kind: 'cli' | 'sdk';
}

const recordFile = (home: string): string => path.join(home, 'server.json');

export function readServerRecord(home: string): ServerRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordFile(home), 'utf8')) as ServerRecord;
  } catch {
    return undefined;
  }
}

/** The `temporal` CLI's names of search attribute types (`--search-attribute Name=Type`). */
const CLI_TYPE_NAMES: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

type AttributeName = keyof typeof SEARCH_ATTRIBUTES;
const ATTRIBUTE_NAMES = Object.keys(SEARCH_ATTRIBUTES) as AttributeName[];

/** The `temporal` CLI's type name of one of Flotilla's attributes, by its name (`FlotillaProgress` -> `Int`). */
export function cliTypeName(name: string): string {
  const a = (Object.keys(SEARCH_ATTRIBUTES) as AttributeName[]).find((k) => SEARCH_ATTRIBUTES[k] === name);
  return a ? CLI_TYPE_NAMES[SEARCH_ATTRIBUTE_TYPES[a]] : 'Keyword';
}

/** `--search-attribute Name=Type` flags of `temporal server start-dev` for every one of Flotilla's attributes. */
export function searchAttributeFlags(): string[] {
  return ATTRIBUTE_NAMES.flatMap((a) => [
    '--search-attribute',
    `${SEARCH_ATTRIBUTES[a]}=${CLI_TYPE_NAMES[SEARCH_ATTRIBUTE_TYPES[a]]}`,
  ]);
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

const { IndexedValueType } = temporal.api.enums.v1;
const indexedType = (a: AttributeName): temporal.api.enums.v1.IndexedValueType =>
  IndexedValueType[`INDEXED_VALUE_TYPE_${SEARCH_ATTRIBUTE_TYPES[a]}`];

/** gRPC status ALREADY_EXISTS. */
const GRPC_ALREADY_EXISTS = 6;

/** How long {@link ensureSearchAttributes} waits for attributes it added to be listed, ms. */
const REGISTRATION_WAIT_MS = 15_000;

/**
 * Flotilla's attributes `namespace` cannot be set yet, from `custom` (name -> indexed type, as
 * `listSearchAttributes` answers): missing ones, and ones registered by hand with another type
 * (every upsert of those would fail).
 */
function unusableIn(custom: Record<string, temporal.api.enums.v1.IndexedValueType>): AttributeName[] {
  return ATTRIBUTE_NAMES.filter((a) => custom[SEARCH_ATTRIBUTES[a]] !== indexedType(a));
}

/**
 * Registers Flotilla's search attributes that `namespace` lacks, each with its type, through the
 * operator API (idempotent: a second call, or another client racing this one, adds nothing), and
 * waits (at most {@link REGISTRATION_WAIT_MS}) until `listSearchAttributes` shows them, since a
 * workflow that sets an attribute the service does not know yet fails its workflow task. Missions
 * always set them: `run`, `start` and `retry` call this before they start a workflow.
 * A namespace whose attributes cannot even be listed (no operator API) is left as it is: starting
 * the workflow then fails with the service's own error if one is missing.
 * @throws CliError (exit 1) when some are still missing or have another type (registering was
 *   not allowed: no operator rights, or Temporal Cloud, where attributes are added in its own
 *   console), naming each with the command that registers it; nothing has been started
 */
export async function ensureSearchAttributes(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
): Promise<void> {
  const list = async (): Promise<Record<string, temporal.api.enums.v1.IndexedValueType>> =>
    (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  let custom: Record<string, temporal.api.enums.v1.IndexedValueType>;
  try {
    custom = await list();
  } catch {
    return;
  }
  if (missingIn(custom).length > 0) custom = await register(connection, namespace, custom, list);
  const unusable = unusableIn(custom);
  if (unusable.length === 0) return;
  const what = unusable.map((a) =>
    SEARCH_ATTRIBUTES[a] in custom
      ? `${SEARCH_ATTRIBUTES[a]} is registered with another type than ${CLI_TYPE_NAMES[SEARCH_ATTRIBUTE_TYPES[a]]}`
      : `${SEARCH_ATTRIBUTES[a]} is missing`,
  );
  const commands = unusable
    .filter((a) => !(SEARCH_ATTRIBUTES[a] in custom))
    .map(
      (a) =>
        `temporal operator search-attribute create --namespace ${namespace} --name ${SEARCH_ATTRIBUTES[a]} --type ${CLI_TYPE_NAMES[SEARCH_ATTRIBUTE_TYPES[a]]}`,
    );
  throw new CliError(
    `namespace ${namespace} cannot hold Flotilla's search attributes, which every mission sets (${what.join('; ')}), ` +
      `and Flotilla could not register them (no operator rights?); nothing was started. ` +
      (commands.length
        ? `Register them (Temporal Cloud: in its console, same names and types): ${commands.join(' && ')}`
        : 'Remove the attributes registered with another type, or use another namespace (TEMPORAL_NAMESPACE)'),
    EXIT.failed,
  );
}

/** Flotilla's attributes that `custom` (as `listSearchAttributes` answers) lacks. */
function missingIn(custom: Record<string, temporal.api.enums.v1.IndexedValueType>): AttributeName[] {
  return ATTRIBUTE_NAMES.filter((a) => !(SEARCH_ATTRIBUTES[a] in custom));
}

/** Adds the attributes `custom` lacks; returns the list once they show (or the wait ran out). */
async function register(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
  custom: Record<string, temporal.api.enums.v1.IndexedValueType>,
  list: () => Promise<Record<string, temporal.api.enums.v1.IndexedValueType>>,
): Promise<Record<string, temporal.api.enums.v1.IndexedValueType>> {
  const missing = missingIn(custom);
  for (let round = 0; ; round++) {
    try {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missingIn(custom).map((a) => [SEARCH_ATTRIBUTES[a], indexedType(a)])),
      });
      break;
    } catch (err) {
      // Not allowed, not implemented: waiting will not change it.
      if (!(isGrpcServiceError(err) && err.code === GRPC_ALREADY_EXISTS)) return list().catch(() => custom);
      // Another client added some first and the service refused the whole call: add the rest.
      custom = await list().catch(() => custom);
      if (missingIn(custom).length === 0 || round === 2) break;
    }
  }
  const deadline = Date.now() + REGISTRATION_WAIT_MS;
  for (;;) {
    try {
      custom = await list();
    } catch {
      // Keep the last answer.
    }
    if (missing.every((a) => SEARCH_ATTRIBUTES[a] in custom) || Date.now() > deadline) return custom;
    await new Promise((r) => setTimeout(r, 250));
  }
}
