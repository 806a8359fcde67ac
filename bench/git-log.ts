/**
 * Counting git processes: a `git` wrapper first on PATH (git-wrapper.c, compiled on first use;
 * a shell script when no C compiler is there) logs every call to $BENCH_GIT_LOG and execs the real
 * git. Only processes started from outside git are seen: git's own subprocesses run from its exec
 * path (/usr/lib/git-core), not through PATH.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** git's subcommand: the first argument that is not a global option (`-c k=v`, `-C dir`, `--x`). */
export function gitSubcommand(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-c' || a === '-C' || a === '--git-dir' || a === '--work-tree' || a === '--namespace') i++;
    else if (!a.startsWith('-')) return a;
  }
  return '(none)';
}

/** Where the real git is: the first `git` on PATH. */
export function realGit(): string {
  return execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
}

/**
 * Makes `<dir>/git`, the logging wrapper, and returns `dir` (to put first on PATH) and the kind
 * of wrapper made. Set BENCH_GIT_LOG (the log file) and BENCH_REAL_GIT in the environment of
 * what runs under it.
 */
export function installGitWrapper(dir: string): { dir: string; kind: 'c' | 'sh' } {
  mkdirSync(dir, { recursive: true });
  const target = path.join(dir, 'git');
  const source = path.resolve(__dirname, '../../bench/git-wrapper.c');
  try {
    execFileSync('cc', ['-O2', '-o', target, source], { stdio: 'ignore' });
    return { dir, kind: 'c' };
  } catch {
    const script = [
      '#!/bin/sh',
      'if [ -n "$BENCH_GIT_LOG" ]; then',
      '  { printf "%s %s %s" "$(date +%s%3N)" "$PPID" "$PWD"; for a in "$@"; do printf "\\t%s" "$(printf %s "$a" | tr "\\t\\n" "  " | cut -c1-160)"; done; printf "\\n"; } >> "$BENCH_GIT_LOG"',
      'fi',
      'exec "${BENCH_REAL_GIT:-/usr/bin/git}" "$@"',
    ].join('\n');
    writeFileSync(target, `${script}\n`);
    chmodSync(target, 0o755);
    return { dir, kind: 'sh' };
  }
}

/** One logged git call. */
export interface GitCall {
  /** Epoch ms. */
  at: number;
  ppid: number;
  cwd: string;
  args: string[];
}

/** Reads a wrapper log (none: no calls). */
export function readGitLog(file: string): GitCall[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line)
    .map((line) => {
      const [head, ...args] = line.split('\t');
      const m = /^(\d+) (\d+) (.*)$/.exec(head);
      return { at: Number(m?.[1] ?? 0), ppid: Number(m?.[2] ?? 0), cwd: m?.[3] ?? '', args };
    });
}

/** Calls counted by subcommand, most first. */
export function bySubcommand(calls: { args: string[] }[]): Record<string, number> {
  return countSorted(calls.map((c) => gitSubcommand(c.args)));
}

/** Counts of each distinct string, most first (an object keeps that insertion order). */
export function countSorted(keys: string[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
}

/**
 * An argv's shape: `git` arguments with what varies per call replaced (the mission id `<m>`, task
 * ids `<t>`, object names `<sha>`, absolute paths `<path>`, commit messages and dates), so calls
 * made by the same code line count together.
 */
export function argvShape(args: string[], missionId: string, taskIds: Set<string>): string {
  const shaped: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const prev = args[i - 1];
    let a = args[i];
    if (prev === '-m' || prev === '--message' || prev === '-F') a = '<msg>';
    else if (/^GIT_(AUTHOR|COMMITTER)_DATE=/.test(a) || /^--date=/.test(a)) a = a.replace(/=.*/, '=<date>');
    else if (a.startsWith('/')) a = '<path>';
    else {
      a = a.split(missionId).join('<m>');
      a = a.replace(/\b[0-9a-f]{40}\b/g, '<sha>');
      a = a.replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<uuid>');
      a = a.replace(/[A-Za-z0-9_-]+/g, (w) => (taskIds.has(w) ? '<t>' : w));
      a = a.replace(/=\/\S*/g, '=<path>');
    }
    shaped.push(a);
  }
  return `git ${shaped.join(' ')}`;
}

/** Calls counted by argv shape (see {@link argvShape}), most first. */
export function byShape(calls: GitCall[], missionId: string, taskIds: string[]): Record<string, number> {
  const ids = new Set(taskIds);
  return countSorted(calls.map((c) => argvShape(c.args, missionId, ids)));
}

/** The task a git call works for: a task id named in its cwd or its arguments, or null (mission work). */
export function taskOf(call: GitCall, taskIds: Set<string>): string | null {
  for (const text of [call.cwd, ...call.args])
    for (const word of text.split(/[^A-Za-z0-9_-]+/)) if (taskIds.has(word)) return word;
  return null;
}
