/** Pieces the JSON-streaming runtimes (claude, codex) share. */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from './types';

/**
 * An agent CLI that ships with Flotilla as an npm dependency (`pkg`, its binary at `rel` inside
 * the package), else `fallback` looked up on PATH.
 */
export function packagedBinary(pkg: string, rel: string, fallback: string): string {
  try {
    const bin = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), rel);
    if (existsSync(bin)) return bin;
  } catch {
    // not installed with Flotilla
  }
  return fallback;
}

/** The agent's home directory: its `HOME`, else the worker's. */
export function homeOf(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir();
}

/**
 * Reads one output line of a JSON-streaming agent: `{ json }` for a JSON object, else the event
 * to show. stderr carries notices (failures come as JSON on stdout); its tail still feeds
 * classification.
 */
export function readJsonLine<T>(
  raw: string,
  stream: 'stdout' | 'stderr',
): { json: T } | { event: AgentEvent | undefined } {
  if (!raw.trim()) return { event: undefined };
  if (stream === 'stderr') return { event: { kind: 'text', text: `[stderr] ${raw}` } };
  try {
    return { json: JSON.parse(raw) as T };
  } catch {
    return { event: { kind: 'text', text: raw } };
  }
}
