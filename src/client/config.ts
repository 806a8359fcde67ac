/** Settings from the environment (README.md, "Environment"), read once per command. */
import os from 'node:os';
import path from 'node:path';

export interface FlotillaConfig {
  /** `TEMPORAL_ADDRESS`, host:port, default 127.0.0.1:7233. */
  address: string;
  namespace: string;
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): FlotillaConfig {
  const address = env.TEMPORAL_ADDRESS || '127.0.0.1:7233';
  // The dev server's Web UI listens on its gRPC port + 1000 (`temporal server start-dev --help`).
  const uiBase = env.FLOTILLA_UI_URL || (isLoopback(address) ? `http://localhost:${portOf(address) + 1000}` : null);
  return {
    address,
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.FLOTILLA_TASK_QUEUE || 'flotilla',
    home: path.resolve(env.FLOTILLA_HOME || path.join(os.homedir(), '.flotilla')),
    uiBase: uiBase ? uiBase.replace(/\/$/, '') : null,
  };
}

/** The Web UI page of a workflow, or null when the UI's address is unknown. */
export function workflowUrl(config: FlotillaConfig, workflowId: string): string | null {
  if (!config.uiBase) return null;
  return `${config.uiBase}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
