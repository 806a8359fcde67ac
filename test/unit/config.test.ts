/**
 * Connection settings as the Temporal CLI reads them (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS*, the CLI's config profile): parsed, certificates read and
 * checked up front with errors that name the variable, and what the SDK then sends on the wire
 * (mTLS client certificate, API key header) seen by a TLS gRPC endpoint on 127.0.0.1.
 */
import { Connection } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { loadConfig, TemporalConnection } from '../../src/client/config';
import { CliError } from '../../src/client/errors';
import { tempDir } from '../helpers/git';

const dir = tempDir('flotilla-tls-');
const file = (name: string): string => path.join(dir, name);

beforeAll(() => {
  // A CA, a server certificate for localhost and a client certificate, both signed by the CA.
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=flotilla-test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  for (const [name, cn, ext] of [
    ['server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    ['client', 'flotilla-worker', 'extendedKeyUsage=clientAuth'],
  ]) {
    writeFileSync(file(`${name}.ext`), `${ext}\n`);
    openssl(
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  }
});

/** The error `fn` throws, which must be a CliError. */
function cliError(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return err as CliError;
  }
  throw new Error('expected a CliError');
}

test('defaults: the local service, namespace default, plaintext, the dev server UI', () => {
  const config = loadConfig({});
  expect(config.connection).toEqual({ address: '127.0.0.1:7233', tls: false });
  expect(config.address).toBe('127.0.0.1:7233');
  expect(config.namespace).toBe('default');
  expect(config.uiBase).toBe('http://localhost:8233');
});

test('Temporal Cloud with an API key: TLS on, the key kept, links to the Cloud UI; TEMPORAL_TLS=false turns TLS off', () => {
  const env = {
    TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233',
    TEMPORAL_NAMESPACE: 'fleet.a1b2c',
    TEMPORAL_API_KEY: 'secret-key',
  };
  const config = loadConfig(env);
  expect(config.connection).toEqual({ address: env.TEMPORAL_ADDRESS, tls: {}, apiKey: 'secret-key' });
  expect(config.namespace).toBe('fleet.a1b2c');
  expect(config.uiBase).toBe('https://cloud.temporal.io');
  expect(loadConfig({ ...env, TEMPORAL_TLS: 'false' }).connection.tls).toBe(false);
  expect(loadConfig({ TEMPORAL_TLS: 'true' }).connection.tls).toEqual({});
});

test('mTLS from the CLI variables: the files read into the TLS settings, the server name, gRPC headers', () => {
  const config = loadConfig({
    TEMPORAL_ADDRESS: 'temporal.internal:7233',
    TEMPORAL_TLS_CERT: file('client.pem'),
    TEMPORAL_TLS_KEY: file('client.key'),
    TEMPORAL_TLS_CA: file('ca.pem'),
    TEMPORAL_TLS_SERVER_NAME: 'temporal.example',
    TEMPORAL_GRPC_META_X_TEAM: 'agents',
  });
  const tls = config.connection.tls as Exclude<TemporalConnection['tls'], false>;
  expect(Buffer.from(tls.clientCertPair!.crt).toString()).toBe(readFileSync(file('client.pem'), 'utf8'));
  expect(Buffer.from(tls.clientCertPair!.key).toString()).toBe(readFileSync(file('client.key'), 'utf8'));
  expect(Buffer.from(tls.serverRootCACertificate!).toString()).toBe(readFileSync(file('ca.pem'), 'utf8'));
  expect(tls.serverNameOverride).toBe('temporal.example');
  expect(config.connection.metadata).toEqual({ 'x-team': 'agents' });
  expect(config.uiBase).toBeNull();
  // The newer names (the CLI's --tls-cert-path ...) and inline PEM text work too.
  const newer = loadConfig({
    TEMPORAL_TLS_CLIENT_CERT_PATH: file('client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_DATA: readFileSync(file('client.key'), 'utf8'),
  }).connection.tls as Exclude<TemporalConnection['tls'], false>;
  expect(Buffer.from(newer.clientCertPair!.crt).toString()).toContain('BEGIN CERTIFICATE');
});

test('bad TLS settings fail before connecting, exit 2, naming the variable and what it should be', () => {
  const missing = cliError(() =>
    loadConfig({ TEMPORAL_TLS_CERT: path.join(dir, 'nope.pem'), TEMPORAL_TLS_KEY: file('client.key') }),
  );
  expect(missing.exitCode).toBe(2);
  expect(missing.message).toBe(
    `TEMPORAL_TLS_CERT=${path.join(dir, 'nope.pem')}: cannot read it (no such file); set it to the path of the client certificate (PEM)`,
  );
  expect(cliError(() => loadConfig({ TEMPORAL_TLS_CERT: file('client.pem') })).message).toBe(
    'TEMPORAL_TLS_CERT is set but not TEMPORAL_TLS_KEY: mTLS needs both the client certificate (PEM) and the private key of the client certificate (PEM)',
  );
  expect(
    cliError(() => loadConfig({ TEMPORAL_TLS_CERT: file('client.key'), TEMPORAL_TLS_KEY: file('client.key') })).message,
  ).toBe(`TEMPORAL_TLS_CERT=${file('client.key')}: not the client certificate (PEM)`);
  expect(cliError(() => loadConfig({ TEMPORAL_TLS_CA: dir })).message).toMatch(
    new RegExp(`^TEMPORAL_TLS_CA=${dir}: cannot read it \\(EISDIR.*\\); set it to the path of the CA certificate`),
  );
  expect(
    cliError(() => loadConfig({ TEMPORAL_TLS_SERVER_CA_CERT_DATA: 'not a certificate', TEMPORAL_TLS: 'true' })).message,
  ).toBe("TEMPORAL_TLS_SERVER_CA_CERT_DATA: not the CA certificate of the server's certificate (PEM)");
  expect(cliError(() => loadConfig({ TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' })).message).toMatch(
    /^TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported .* set TEMPORAL_TLS_SERVER_NAME/,
  );
});

test("the Temporal CLI's config profile, overridden by the environment; an unknown profile is an error", () => {
  const toml = file('temporal.toml');
  writeFileSync(
    toml,
    [
      '[profile.default]',
      'address = "127.0.0.1:7444"',
      '[profile.cloud]',
      'address = "fleet.a1b2c.tmprl.cloud:7233"',
      'namespace = "fleet.a1b2c"',
      '[profile.cloud.tls]',
      `client_cert_path = "${file('client.pem')}"`,
      `client_key_path = "${file('nope.key')}"`,
    ].join('\n'),
  );
  expect(loadConfig({ TEMPORAL_CONFIG_FILE: toml }).address).toBe('127.0.0.1:7444');
  expect(loadConfig({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_ADDRESS: '127.0.0.1:9' }).address).toBe('127.0.0.1:9');
  expect(cliError(() => loadConfig({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'cloud' })).message).toBe(
    `client_key in the Temporal config profile (${file('nope.key')}): cannot read it (no such file); set it to the path of the private key of the client certificate (PEM)`,
  );
  const cloud = loadConfig({
    TEMPORAL_CONFIG_FILE: toml,
    TEMPORAL_PROFILE: 'cloud',
    TEMPORAL_TLS_KEY: file('client.key'),
  });
  expect(cloud.namespace).toBe('fleet.a1b2c');
  expect(cloud.connection.tls).toHaveProperty('clientCertPair');
  const unknown = cliError(() => loadConfig({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'staging' }));
  expect(unknown.exitCode).toBe(2);
  expect(unknown.message).toMatch(/TEMPORAL_PROFILE=staging.*Profile 'staging' not found/);
});

test('on the wire: the SDK presents the client certificate, checks the server against the CA and sends the API key', async () => {
  const seen: Array<{ path: string; authorization?: string; team?: string; clientCn?: string }> = [];
  const server = http2.createSecureServer({
    key: readFileSync(file('server.key')),
    cert: readFileSync(file('server.pem')),
    ca: readFileSync(file('ca.pem')),
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on('stream', (stream, headers) => {
    const peer = (stream.session!.socket as TLSSocket).getPeerCertificate();
    seen.push({
      path: String(headers[':path']),
      authorization: headers.authorization as string | undefined,
      team: headers['x-team'] as string | undefined,
      clientCn: String(peer.subject?.CN),
    });
    // gRPC UNIMPLEMENTED: the SDK takes it as an old server and carries on.
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const config = loadConfig({
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      TEMPORAL_TLS_CERT: file('client.pem'),
      TEMPORAL_TLS_KEY: file('client.key'),
      TEMPORAL_TLS_CA: file('ca.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
      TEMPORAL_API_KEY: 'k-123',
      TEMPORAL_GRPC_META_X_TEAM: 'agents',
    });
    const connection = await Connection.connect({ ...config.connection, connectTimeout: 5000 });
    await connection.close();
  } finally {
    server.close();
  }
  expect(seen[0]).toEqual({
    path: '/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo',
    authorization: 'Bearer k-123',
    team: 'agents',
    clientCn: 'flotilla-worker',
  });
});
