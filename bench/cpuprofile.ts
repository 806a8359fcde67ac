/**
 * Summarizes a V8 CPU profile (`node --cpu-prof` writes one `.cpuprofile` per thread: the main
 * thread and each worker thread, e.g. the Temporal SDK's workflow thread): self time by function
 * and by module (a package under node_modules, a file of Flotilla's lib/, node's internals, or
 * V8's `(garbage collector)`, `(program)`, `(idle)`), and inclusive time of Flotilla's functions.
 *
 *   node lib/bench/cpuprofile.js FILE.cpuprofile... [--top 25]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** The `.cpuprofile` JSON (Chrome DevTools protocol `Profiler.Profile`). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  /** Microseconds between a sample and the one before. */
  timeDeltas: number[];
}

/** Where code comes from: a package, a Flotilla file, node's internals or a V8 pseudo-frame. */
export function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = file.slice(nm + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (file.startsWith('node:')) return file.split('/').slice(0, 2).join('/');
  const lib = file.lastIndexOf('/lib/');
  if (lib >= 0) return `flotilla:${file.slice(lib + 1)}`;
  return path.basename(file);
}

const frameKey = (n: ProfileNode): string => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url ? `${moduleOf(url, functionName)}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
};

/** Self and inclusive milliseconds per function and per module of one profile. */
export interface ProfileSummary {
  /** Sampled time, ms (profile end - start). */
  totalMs: number;
  /** Sampled time that was not `(idle)`, ms. */
  busyMs: number;
  selfByFunction: [string, number][];
  selfByModule: [string, number][];
  /** Time with a Flotilla function (lib/, not the workflow bundle) on the stack, by function. */
  inclusiveFlotilla: [string, number][];
}

const top = (m: Map<string, number>, n: number): [string, number][] =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => [k, Math.round(v)]);

/** Summarizes one profile: the `n` largest of each list. */
export function summarizeProfile(p: CpuProfile, n = 25): ProfileSummary {
  const byId = new Map(p.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of p.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const selfFn = new Map<string, number>();
  const selfMod = new Map<string, number>();
  const incl = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    // A sample stands for the interval up to the next one.
    const ms = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(p.samples[i]);
    if (!node) continue;
    const { functionName, url } = node.callFrame;
    const mod = moduleOf(url, functionName);
    if (mod !== '(idle)') busy += ms;
    selfFn.set(frameKey(node), (selfFn.get(frameKey(node)) ?? 0) + ms);
    selfMod.set(mod, (selfMod.get(mod) ?? 0) + ms);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!;
      if (!moduleOf(frame.callFrame.url, frame.callFrame.functionName).startsWith('flotilla:lib/')) continue;
      const key = frameKey(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + ms);
    }
  }
  return {
    totalMs: Math.round((p.endTime - p.startTime) / 1000),
    busyMs: Math.round(busy),
    selfByFunction: top(selfFn, n),
    selfByModule: top(selfMod, n),
    inclusiveFlotilla: top(incl, n),
  };
}

/** The summary as text. */
export function showSummary(name: string, s: ProfileSummary): string {
  const pct = (ms: number): string => `${((100 * ms) / Math.max(1, s.busyMs)).toFixed(1)}%`;
  const list = (title: string, rows: [string, number][]): string[] => [
    `  ${title}:`,
    ...rows.map(([k, ms]) => `    ${String(ms).padStart(7)} ms ${pct(ms).padStart(6)}  ${k}`),
  ];
  return [
    `${name}: ${s.totalMs} ms sampled, ${s.busyMs} ms not idle (percentages of that)`,
    ...list('self time by module', s.selfByModule),
    ...list('self time by function', s.selfByFunction),
    ...list("inclusive time of Flotilla's functions", s.inclusiveFlotilla),
  ].join('\n');
}

function main(argv: string[]): void {
  const i = argv.indexOf('--top');
  const n = i >= 0 ? Number(argv[i + 1]) : 25;
  const files = argv.filter((a, j) => a.endsWith('.cpuprofile') && argv[j - 1] !== '--top');
  if (files.length === 0) {
    process.stderr.write('usage: cpuprofile.js FILE.cpuprofile... [--top N]\n');
    process.exit(2);
  }
  for (const f of files)
    console.log(showSummary(path.basename(f), summarizeProfile(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile, n)));
}

if (require.main === module) main(process.argv.slice(2));
