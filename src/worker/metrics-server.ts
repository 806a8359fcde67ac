/**
 * The `/metrics` endpoint of `flotilla worker --metrics HOST:PORT`: Flotilla's metrics and the
 * Temporal SDK's, in one scrape.
 *
 * Why two sources behind one server: the SDK's metrics (task queue polls, activity and workflow
 * task latencies, sticky cache, and Flotilla's workflow metrics such as the merge queue length)
 * are kept by the SDK's Rust core, which exports them only through its own Prometheus HTTP
 * exporter (or OTLP); prom-client cannot read them, and the SDK's exporter cannot serve
 * prom-client's registry. So the SDK's exporter listens on a loopback port nobody else needs to
 * know (`127.0.0.1:<ephemeral>`), and this server answers `/metrics` on the user's HOST:PORT with
 * prom-client's text followed by the SDK's scrape, fetched over loopback at scrape time. Their
 * metric names never overlap (`flotilla_`, `process_`, `nodejs_` vs the SDK's `temporal_` and
 * workflow metrics), so the two texts concatenated are one valid exposition (format 0.0.4).
 * The alternatives were worse: the SDK's experimental buffered metrics would need every SDK
 * metric re-declared in prom-client by hand, and recording Flotilla's metrics through the SDK's
 * meter instead of prom-client would lose prom-client's process metrics and well-kept encoder.
 */
import http from 'node:http';
import net from 'node:net';
import { formatListenAddress, ListenAddress } from './metrics-address';
import type { FlotillaMetrics } from './metrics';

/** How long a scrape waits for the SDK's exporter, ms; after that it serves Flotilla's part alone. */
export const SDK_SCRAPE_TIMEOUT_MS = 2000;

/** Binding the metrics endpoint failed; the message says why and what to do. */
export class MetricsListenError extends Error {
  constructor(
    message: string,
    /** The system error code (`EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`, `ENOTFOUND`…). */
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'MetricsListenError';
  }
}

/** What a bind failure means to a user, by its system error code. */
export function listenErrorMessage(address: string, err: NodeJS.ErrnoException): string {
  const what = `cannot serve metrics on ${address}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `${what}: the port is in use by another process; choose a free port (or stop that process)`;
    case 'EACCES':
      return `${what}: permission denied (ports below 1024 need privileges); choose a port above 1024`;
    case 'EADDRNOTAVAIL':
      return `${what}: the address is not one of this machine's; use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or an address of this host`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${what}: the host name does not resolve; use an IP address such as 127.0.0.1 or 0.0.0.0`;
    default:
      return `${what}: ${err.message}`;
  }
}

/** The running endpoint. */
export interface MetricsServer {
  /** `http://HOST:PORT/metrics` as bound (the actual port). */
  url: string;
  /** Where the SDK's exporter listens (`127.0.0.1:<port>`), once it does; until then scrapes carry Flotilla's part only. */
  sdkAddress: string | undefined;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/**
 * Starts the endpoint on `listen`: `GET /metrics` (and `HEAD`) answers Flotilla's metrics and,
 * when `sdkAddress` is set, the SDK's; `/` says where the metrics are; anything else is 404.
 * @throws MetricsListenError when it cannot bind (port in use, no permission, not a local address)
 */
export async function startMetricsServer(listen: ListenAddress, metrics: FlotillaMetrics): Promise<MetricsServer> {
  const shown = formatListenAddress(listen);
  const state: MetricsServer = {
    url: '',
    sdkAddress: undefined,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    void answer(req, res, metrics, state.sdkAddress).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`metrics unavailable: ${(err as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new MetricsListenError(listenErrorMessage(shown, err), err.code)),
    );
    server.listen({ host: listen.host, port: listen.port }, () => resolve());
  });
  const bound = server.address() as net.AddressInfo;
  state.url = `http://${formatListenAddress({ host: listen.host, port: bound.port })}/metrics`;
  return state;
}

async function answer(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  metrics: FlotillaMetrics,
  sdkAddress: string | undefined,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://metrics');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('Flotilla worker metrics: /metrics\n');
    return;
  }
  if (url.pathname !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; metrics are at /metrics\n');
    return;
  }
  const sdk = sdkAddress ? await scrapeSdk(sdkAddress) : undefined;
  metrics.sdkUp.set(sdk === undefined ? 0 : 1);
  const body = (await metrics.text()) + (sdk ?? '');
  res.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The SDK exporter's text, or undefined when it does not answer in time. */
async function scrapeSdk(address: string): Promise<string | undefined> {
  try {
    const r = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(SDK_SCRAPE_TIMEOUT_MS) });
    if (!r.ok) return undefined;
    const text = await r.text();
    return text.endsWith('\n') || text === '' ? text : `${text}\n`;
  } catch {
    return undefined;
  }
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Calls `install(bindAddress)` (the SDK's `Runtime.install` with a Prometheus exporter) with a
 * free loopback port, and again with another one when that port was taken meanwhile (the OS may
 * hand it to another process between our probe and the SDK's bind).
 * @returns the address the SDK's exporter listens on
 * @throws the SDK's error when every try failed, or at once when it failed for another reason
 */
export async function installWithLoopbackExporter(install: (bindAddress: string) => void, tries = 3): Promise<string> {
  for (let i = 1; ; i++) {
    const address = `127.0.0.1:${await freeLoopbackPort()}`;
    try {
      install(address);
      return address;
    } catch (err) {
      if (i >= tries || !/address already in use/i.test((err as Error).message)) throw err;
    }
  }
}
