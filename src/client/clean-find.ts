/**
 * What in a repository is Flotilla's, for `flotilla clean`: the missions that left something there
 * and which worktrees are whose (by branch, or by the folder layout under `$FLOTILLA_HOME`).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { git } from '../git/git';
import { listWorktrees, WorktreeEntry } from '../git/worktree-list';
import { CONFLICT_SUFFIX } from '../git/worktree-layout';
import { REMOVING_SUFFIX } from '../git/worktree-removal';

const MISSION_ID = '[a-z0-9][a-z0-9-]{0,62}';

/**
 * The main worktree of the repository that holds `dir`.
 * @throws GitError when `dir` is not in a git repository
 */
export async function repositoryOf(dir: string): Promise<string> {
  const main = (await listWorktrees(dir))[0];
  return main.path;
}

/** Where a mission's id follows in the refs Flotilla writes (docs/architecture.md, "Where state lives"). */
const MISSION_REF_PREFIXES = [
  'refs/heads/flotilla/',
  'refs/flotilla/checkpoints/',
  'refs/flotilla/candidates/',
  'refs/flotilla/merges/',
  'refs/flotilla/stale-checkpoints/',
  'refs/flotilla/owners/flotilla/',
  'refs/flotilla/leases/heads/flotilla/',
  'refs/flotilla/leases/flotilla/checkpoints/',
  'refs/flotilla/leases/flotilla/candidates/',
  'refs/flotilla/leases/flotilla/merges/',
];

/**
 * Mission ids with anything in the repository: branches, refs (archives aside: they are what
 * `clean` leaves), or worktrees under `$FLOTILLA_HOME`.
 */
export async function missionsIn(repo: string, home: string): Promise<string[]> {
  const ids = new Set<string>();
  const refs = await git(repo, ['for-each-ref', '--format=%(refname)', ...MISSION_REF_PREFIXES]);
  for (const ref of refs.split('\n')) {
    const prefix = MISSION_REF_PREFIXES.find((p) => ref.startsWith(p));
    const m = prefix && new RegExp(`^(${MISSION_ID})(?:/|$)`).exec(ref.slice(prefix.length));
    if (m) ids.add(m[1]);
  }
  for (const w of await listWorktrees(repo)) {
    const id = flotillaWorktree(w, home)?.mission;
    if (id) ids.add(id);
  }
  return [...ids].sort();
}

/** What a worktree is to Flotilla (see {@link flotillaWorktree}). */
export interface FlotillaWorktree {
  mission: string;
  kind: 'task' | 'integration' | 'conflict';
  task?: string;
}

/**
 * What a worktree is to Flotilla, from its branch or its folder (`<home>/worktrees/<mission>/<run>/…`,
 * also a worker's own `$FLOTILLA_HOME`, recognised by that layout): or undefined for anyone else's.
 * The main worktree is never Flotilla's.
 */
export function flotillaWorktree(w: WorktreeEntry, home: string): FlotillaWorktree | undefined {
  if (w.main) return undefined;
  const byBranch = w.branch && new RegExp(`^flotilla/(${MISSION_ID})/(integration|tasks/(.+))$`).exec(w.branch);
  const layout = new RegExp(`/worktrees/(${MISSION_ID})/[0-9a-f]{8,}/(integration|tasks/([^/]+)|.+)$`).exec(w.path);
  const underHome = w.path.startsWith(path.join(home, 'worktrees') + path.sep);
  if (byBranch && (underHome || layout)) {
    return byBranch[2] === 'integration'
      ? { mission: byBranch[1], kind: 'integration' }
      : { mission: byBranch[1], kind: 'task', task: byBranch[3] };
  }
  if (!layout) return undefined;
  if (layout[2] === 'integration') return { mission: layout[1], kind: 'integration' };
  // `tasks/<task>.conflict`: the merge of the task set up for its resolver (worktree-layout.ts).
  if (layout[3]?.endsWith(CONFLICT_SUFFIX))
    return { mission: layout[1], kind: 'conflict', task: layout[3].slice(0, -CONFLICT_SUFFIX.length) };
  if (layout[3]) return { mission: layout[1], kind: 'task', task: layout[3] };
  return { mission: layout[1], kind: 'conflict' };
}

/**
 * The worktree folders of mission `id` under `home` whose removal Flotilla began and did not
 * finish (a `<folder>.removing` marker beside them, src/git/worktree-removal.ts), whether
 * or not git still lists them (a `git worktree prune` forgets one whose `.git` file was already
 * deleted): looked for in the layout `worktrees/<id>/<run>/{integration,tasks/<task>}`.
 */
export function removalsBegun(home: string, id: string): string[] {
  const root = path.join(home, 'worktrees', id);
  const found: string[] = [];
  const markersIn = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir))
      if (f.endsWith(REMOVING_SUFFIX)) found.push(path.join(dir, f.slice(0, -REMOVING_SUFFIX.length)));
  };
  if (!existsSync(root)) return found;
  for (const run of readdirSync(root)) {
    markersIn(path.join(root, run));
    markersIn(path.join(root, run, 'tasks'));
  }
  return found;
}
