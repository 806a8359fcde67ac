/**
 * `touches:` overlap: two tasks whose globs may match a common path never run at the same time;
 * the later one in file order starts after the earlier one is merged, so it starts from its
 * result. Client-side only (picomatch); the workflow sees the outcome as `TaskSpec.after`.
 */
import picomatch from 'picomatch';
import type { TaskSpec } from './types';

const under = (p: string, dir: string): boolean => dir === '' || p === dir || p.startsWith(`${dir}/`);

/**
 * Whether some path could match both globs. Exact for literal paths (a file, or a directory,
 * which stands for everything under it); for two globs it is conservative: they overlap when one
 * glob's literal base directory lies inside the other's, which may serialize two tasks that would
 * not have collided, never the other way round.
 */
export function globsOverlap(a: string, b: string): boolean {
  const norm = (g: string): string => g.replace(/^\.\//, '').replace(/\/+$/, '');
  const [ga, gb] = [norm(a), norm(b)];
  const sa = picomatch.scan(ga);
  const sb = picomatch.scan(gb);
  if (!sa.isGlob && !sb.isGlob) return under(ga, gb) || under(gb, ga);
  if (!sa.isGlob) return literalOverlaps(ga, gb, sb.base);
  if (!sb.isGlob) return literalOverlaps(gb, ga, sa.base);
  return under(sa.base, sb.base) || under(sb.base, sa.base);
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

/** Whether any glob of `a` overlaps any glob of `b`. */
export function touchesOverlap(a: string[], b: string[]): boolean {
  return a.some((x) => b.some((y) => globsOverlap(x, y)));
}

/**
 * Sets each task's `after`: the earlier tasks (in file order) whose `touches` overlap its own.
 * A pair already ordered by `dependsOn` (either way, transitively) needs nothing more, and adding
 * the reverse order would deadlock it.
 * @returns the same tasks, each with `after` set (empty when nothing overlaps)
 */
export function serializeOverlaps(tasks: TaskSpec[]): TaskSpec[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const ancestors = new Map<string, Set<string>>();
  const ancestorsOf = (id: string): Set<string> => {
    const known = ancestors.get(id);
    if (known) return known;
    const set = new Set<string>();
    ancestors.set(id, set);
    for (const d of byId.get(id)?.dependsOn ?? []) {
      set.add(d);
      for (const x of ancestorsOf(d)) set.add(x);
    }
    return set;
  };
  return tasks.map((t, i) => {
    const after: string[] = [];
    if (t.touches?.length)
      for (const earlier of tasks.slice(0, i)) {
        if (!earlier.touches?.length || !touchesOverlap(earlier.touches, t.touches)) continue;
        if (ancestorsOf(t.id).has(earlier.id) || ancestorsOf(earlier.id).has(t.id)) continue;
        after.push(earlier.id);
      }
    return { ...t, after };
  });
}
