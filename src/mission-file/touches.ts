/**
 * `touches:` overlap: two tasks whose globs may match a common path never run at the same time;
 * the later one in file order starts after the earlier one is merged, so it starts from its
 * result. Client-side only (picomatch); the workflow sees the outcome as `TaskSpec.after`.
 */
import picomatch from 'picomatch';
import type { TaskSpec } from '../mission/types';

const under = (p: string, dir: string): boolean => dir === '' || p === dir || p.startsWith(`${dir}/`);

/** A `touches` glob scanned once: its normalized text, whether it is a glob, its literal base folder. */
interface Glob {
  text: string;
  isGlob: boolean;
  base: string;
}

function scanGlob(g: string): Glob {
  const text = g.replace(/^\.\//, '').replace(/\/+$/, '');
  const scan = picomatch.scan(text);
  return { text, isGlob: scan.isGlob, base: scan.base };
}

/**
 * Whether some path could match both globs. Exact for literal paths (a file, or a directory,
 * which stands for everything under it); for two globs it is conservative: they overlap when one
 * glob's literal base directory lies inside the other's, which may serialize two tasks that would
 * not have collided, never the other way round.
 */
export function globsOverlap(a: string, b: string): boolean {
  return scannedOverlap(scanGlob(a), scanGlob(b));
}

function scannedOverlap(a: Glob, b: Glob): boolean {
  if (!a.isGlob && !b.isGlob) return under(a.text, b.text) || under(b.text, a.text);
  if (!a.isGlob) return literalOverlaps(a.text, b.text, b.base);
  if (!b.isGlob) return literalOverlaps(b.text, a.text, a.base);
  return under(a.base, b.base) || under(b.base, a.base);
}

/**
 * A literal path against a glob: a file (its last segment has an extension) overlaps only when the
 * glob matches it; a folder overlaps when the glob's base lies inside it or it lies inside the
 * glob's base (something under it may match).
 */
function literalOverlaps(literal: string, glob: string, globBase: string): boolean {
  if (picomatch.isMatch(literal, glob, { dot: true })) return true;
  if (/\.[^/]+$/.test(literal)) return false;
  return under(globBase, literal) || under(literal, globBase);
}

/**
 * Whether `from` depends on `to` through `dependsOn`, directly or transitively: an iterative
 * walk (a 10,000-task chain would overflow a recursive one), O(tasks + dependencies).
 */
function dependsOnTransitively(byId: Map<string, TaskSpec>, from: string, to: string): boolean {
  const seen = new Set<string>([from]);
  const todo = [from];
  while (todo.length > 0) {
    for (const d of byId.get(todo.pop()!)?.dependsOn ?? []) {
      if (d === to) return true;
      if (!seen.has(d)) {
        seen.add(d);
        todo.push(d);
      }
    }
  }
  return false;
}

/**
 * Sets each task's `after`: the earlier tasks (in file order) whose `touches` overlap its own.
 * A pair already ordered by `dependsOn` (either way, transitively) needs nothing more, and adding
 * the reverse order would deadlock it. Compares every pair of tasks that have `touches` (each
 * glob scanned once); the dependency walk runs only for pairs that overlap.
 * @returns the same tasks, each with `after` set (empty when nothing overlaps)
 */
export function serializeOverlaps(tasks: TaskSpec[]): TaskSpec[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const globs = tasks.map((t) => (t.touches ?? []).map(scanGlob));
  const overlap = (i: number, j: number): boolean => globs[i].some((x) => globs[j].some((y) => scannedOverlap(x, y)));
  return tasks.map((t, i) => {
    const after: string[] = [];
    if (globs[i].length)
      for (let j = 0; j < i; j++) {
        const earlier = tasks[j];
        if (!globs[j].length || !overlap(j, i)) continue;
        if (dependsOnTransitively(byId, t.id, earlier.id) || dependsOnTransitively(byId, earlier.id, t.id)) continue;
        after.push(earlier.id);
      }
    return { ...t, after };
  });
}
