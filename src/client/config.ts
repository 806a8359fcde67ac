/** Settings from the environment (README.md, "Environment"), read once per command. */
import { loadClientConfigProfile, type ClientConfigProfile, type ConfigDataSource } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/client';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError, EXIT } from './errors';

/**
 * How to reach the Temporal service: what both `Connection.connect` (client) and
 * `NativeConnection.connect` (worker) take, spread into their options.
 */
export interface TemporalConnection {
  /** host:port of the frontend. */
  address: string;
  /** TLS: certificates read and checked already; false for plaintext. */
  tls: TLSConfig | false;
  /** Sent as `Authorization: Bearer …` (Temporal Cloud API keys). */
  apiKey?: string;
  /** Extra gRPC headers (`TEMPORAL_GRPC_META_<NAME>`). */
  metadata?: Record<string, string>;
}

export interface FlotillaConfig {
  /** `TEMPORAL_ADDRESS`, host:port, default 127.0.0.1:7233. */
  address: string;
  namespace: string;
  /** Address, TLS and API key, as the Temporal CLI reads them (see {@link temporalConnection}). */
  connection: TemporalConnection;
  taskQueue: string;
  /** `$FLOTILLA_HOME`, default ~/.flotilla. */
  home: string;
  /** Base URL of the Temporal Web UI, or null when unknown. */
  uiBase: string | null;
}

export function isLoopback(address: string): boolean {
  const host = address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === '127.0.0.1' || host === 'localhost' || host === '::1';
}

export function portOf(address: string): number {
  return Number(/:(\d+)$/.exec(address)?.[1] ?? 7233);
}

/** Temporal Cloud's frontends (`<ns>.<acct>.tmprl.cloud:7233`, `<region>.<cloud>.api.temporal.io:7233`). */
const isTemporalCloud = (address: string): boolean => /\.(tmprl\.cloud|api\.temporal\.io)(:\d+)?$/.test(address);

/**
 * @throws CliError exit 2 when a connection setting is wrong (see {@link temporalConnection})
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): FlotillaConfig {
  const { connection, namespace } = temporalConnection(env);
  const address = connection.address;
  // The dev server's Web UI listens on its gRPC port + 1000 (`temporal server start-dev --help`);
  // Temporal Cloud's pages have the same paths under cloud.temporal.io.
  const uiBase =
    env.FLOTILLA_UI_URL ||
    (isLoopback(address)
      ? `http://localhost:${portOf(address) + 1000}`
      : isTemporalCloud(address)
        ? 'https://cloud.temporal.io'
        : null);
  return {
    address,
    namespace,
    connection,
    taskQueue: env.FLOTILLA_TASK_QUEUE || 'flotilla',
    home: path.resolve(env.FLOTILLA_HOME || path.join(os.homedir(), '.flotilla')),
    uiBase: uiBase ? uiBase.replace(/\/$/, '') : null,
  };
}

/** The Temporal CLI's first names of the TLS variables, which override every other source. */
const LEGACY_TLS = {
  clientCert: 'TEMPORAL_TLS_CERT',
  clientKey: 'TEMPORAL_TLS_KEY',
  serverCACert: 'TEMPORAL_TLS_CA',
} as const;
/** The names of `@temporalio/envconfig` (and the CLI's `--tls-*-path` flags). */
const PROFILE_TLS = {
  clientCert: 'TEMPORAL_TLS_CLIENT_CERT',
  clientKey: 'TEMPORAL_TLS_CLIENT_KEY',
  serverCACert: 'TEMPORAL_TLS_SERVER_CA_CERT',
} as const;
type TlsFile = keyof typeof LEGACY_TLS;
const WHAT: Record<TlsFile, string> = {
  clientCert: 'the client certificate (PEM)',
  clientKey: 'the private key of the client certificate (PEM)',
  serverCACert: "the CA certificate of the server's certificate (PEM)",
};

/**
 * The Temporal service to use, from the same places and with the same rules as the Temporal CLI
 * (`temporal --help`, "client" options; `@temporalio/envconfig`): the profile `TEMPORAL_PROFILE`
 * (default `default`) of the CLI's config file (`TEMPORAL_CONFIG_FILE`, default
 * ~/.config/temporalio/temporal.toml) when there is one, overridden by `TEMPORAL_ADDRESS`,
 * `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS` (true/false), `TEMPORAL_TLS_CERT`,
 * `TEMPORAL_TLS_KEY`, `TEMPORAL_TLS_CA` (file paths; `…_DATA` for the PEM text itself; also
 * `TEMPORAL_TLS_CLIENT_CERT_PATH`, `…_CLIENT_KEY_PATH`, `…_SERVER_CA_CERT_PATH`),
 * `TEMPORAL_TLS_SERVER_NAME` and `TEMPORAL_GRPC_META_<NAME>`. TLS is on when any TLS setting or an
 * API key is given, unless `TEMPORAL_TLS=false`. Certificate files are read and parsed here, so a
 * wrong one is reported before any connection is tried.
 * @returns the connection and the namespace (default `default`); address default 127.0.0.1:7233
 * @throws CliError exit 2 naming the variable: an unreadable or malformed certificate or key, a
 *   certificate without its key, an unknown profile, a malformed config file
 */
export function temporalConnection(env: NodeJS.ProcessEnv): { connection: TemporalConnection; namespace: string } {
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  let profile: ClientConfigProfile;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: vars });
  } catch (err) {
    throw new CliError(
      `cannot read the Temporal CLI's connection profile (TEMPORAL_PROFILE=${env.TEMPORAL_PROFILE ?? ''}, TEMPORAL_CONFIG_FILE=${env.TEMPORAL_CONFIG_FILE ?? '~/.config/temporalio/temporal.toml'}): ${(err as Error).message}; fix the file or unset the variables`,
      EXIT.invalid,
    );
  }
  const address = profile.address || '127.0.0.1:7233';
  const tlsProfile = { ...profile.tls };
  // Where each file setting came from, to name it in errors.
  const origin: Record<TlsFile, string> = {
    clientCert: 'client_cert in the Temporal config profile',
    clientKey: 'client_key in the Temporal config profile',
    serverCACert: 'server_ca_cert in the Temporal config profile',
  };
  for (const key of Object.keys(LEGACY_TLS) as TlsFile[]) {
    for (const [name, source] of [
      [`${PROFILE_TLS[key]}_PATH`, { path: env[`${PROFILE_TLS[key]}_PATH`] }],
      [`${PROFILE_TLS[key]}_DATA`, { data: env[`${PROFILE_TLS[key]}_DATA`] }],
      // As the CLI does, its first names win over the profile and the newer names.
      [LEGACY_TLS[key], { path: env[LEGACY_TLS[key]] }],
      [`${LEGACY_TLS[key]}_DATA`, { data: env[`${LEGACY_TLS[key]}_DATA`] }],
    ] as Array<[string, { path?: string; data?: string }]>) {
      if (!Object.values(source)[0]) continue;
      tlsProfile[key] = source as ConfigDataSource;
      origin[key] = name;
    }
  }
  const hasTls = Object.values(tlsProfile).some((v) => v !== undefined);
  const apiKey = profile.apiKey || undefined;
  if (env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION === 'true' || env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION === '1')
    throw new CliError(
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported by the Temporal TypeScript SDK that Flotilla uses: unset it, and set TEMPORAL_TLS_SERVER_NAME to the name in the server certificate instead',
      EXIT.invalid,
    );
  let tls: TLSConfig | false = false;
  if (!tlsProfile.disabled && (hasTls || apiKey)) {
    const read = (key: TlsFile): Uint8Array | undefined => readTlsFile(key, tlsProfile[key], origin[key]);
    const crt = read('clientCert');
    const key = read('clientKey');
    if (!crt !== !key) {
      const [set, unset] = crt ? ['clientCert', 'clientKey'] : ['clientKey', 'clientCert'];
      throw new CliError(
        `${origin[set as TlsFile]} is set but not ${LEGACY_TLS[unset as TlsFile]}: mTLS needs both ${WHAT.clientCert} and ${WHAT.clientKey}`,
        EXIT.invalid,
      );
    }
    const ca = read('serverCACert');
    tls = {
      ...(tlsProfile.serverName ? { serverNameOverride: tlsProfile.serverName } : {}),
      ...(ca ? { serverRootCACertificate: ca } : {}),
      ...(crt && key ? { clientCertPair: { crt, key } } : {}),
    };
  }
  return {
    connection: {
      address,
      tls,
      ...(apiKey ? { apiKey } : {}),
      ...(profile.grpcMeta && Object.keys(profile.grpcMeta).length ? { metadata: profile.grpcMeta } : {}),
    },
    namespace: profile.namespace || 'default',
  };
}

/**
 * Reads and parses one TLS file (or its inline PEM text).
 * @throws CliError exit 2 naming `origin` when it cannot be read or is not what it should be
 */
function readTlsFile(key: TlsFile, source: ConfigDataSource | undefined, origin: string): Uint8Array | undefined {
  if (!source) return undefined;
  let pem: Buffer;
  const fromEnv = origin.startsWith('TEMPORAL_');
  const where = 'path' in source ? (fromEnv ? `${origin}=${source.path}` : `${origin} (${source.path})`) : origin;
  if ('path' in source) {
    try {
      pem = readFileSync(source.path);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
      throw new CliError(`${where}: cannot read it (${reason}); set it to the path of ${WHAT[key]}`, EXIT.invalid);
    }
  } else {
    pem = Buffer.from(source.data);
  }
  try {
    if (key === 'clientKey') createPrivateKey(pem);
    else new X509Certificate(pem);
  } catch {
    throw new CliError(`${where}: not ${WHAT[key]}`, EXIT.invalid);
  }
  return pem;
}

/** The Web UI page of a workflow, or null when the UI's address is unknown. */
export function workflowUrl(config: FlotillaConfig, workflowId: string): string | null {
  if (!config.uiBase) return null;
  return `${config.uiBase}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
