/**
 * The `--metrics HOST:PORT` argument of `flotilla worker`. Pure (no sockets): kept apart from the
 * metrics server so the CLI parses it without loading prom-client.
 */

/** Where the metrics endpoint listens. */
export interface ListenAddress {
  /** A hostname or IP address (IPv6 without brackets); undefined: every interface (`:PORT`). */
  host: string | undefined;
  /** 1..65535. */
  port: number;
}

/** What a good value looks like, for error messages. */
const EXAMPLES = 'e.g. 127.0.0.1:9464, 0.0.0.0:9464, [::1]:9464 or :9464 (every interface)';

/**
 * Parses `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (every interface, as Prometheus' own `:9090`).
 * The host is not resolved here: binding says whether it is one of this machine's addresses.
 * @throws Error saying what is wrong and what a good value looks like (no port, a port outside
 *   1..65535, a path or credentials after the address, an empty value)
 */
export function parseListenAddress(value: string): ListenAddress {
  const v = value.trim();
  if (!v) fail('the address is empty');
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::(.*))?$/.exec(v);
  if (!m) fail(`"${value}" is not a host and port`);
  const [, rawHost, rawPort] = m;
  if (rawPort === undefined) fail(`"${value}" has no port`);
  if (rawPort.includes(':')) fail(`"${value}": an IPv6 address goes in brackets`);
  const port = portOf(rawPort);
  if (!rawHost) return { host: undefined, port };
  // `new URL` checks the host as a URL authority would have it (characters, IPv6 in brackets).
  const url = URL.canParse(`metrics://${rawHost}`) ? new URL(`metrics://${rawHost}`) : undefined;
  if (!url?.hostname || url.username || url.port || url.pathname || url.search || url.hash)
    fail(`"${rawHost}" is not a host name or IP address`);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

function fail(why: string): never {
  throw new Error(`${why}; expected HOST:PORT, ${EXAMPLES}`);
}

function portOf(text: string): number {
  if (!/^\d+$/.test(text)) fail(`the port "${text}" is not a number`);
  const port = Number(text);
  if (port < 1 || port > 65535) fail(`the port ${port} is outside 1..65535`);
  return port;
}

/** `host:port` as a URL authority (IPv6 in brackets); `0.0.0.0` stands for every interface. */
export function formatListenAddress(a: ListenAddress): string {
  const host = a.host === undefined ? '0.0.0.0' : a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${host}:${a.port}`;
}
