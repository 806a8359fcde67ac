/**
 * `flotilla clean`: what Flotilla made in a repository for its missions (worktrees, branches,
 * candidate and checkpoint refs) and no longer needs, planned from git alone plus one fact from
 * Temporal (whether the mission still runs), then removed on request.
 *
 * The rules keep anyone's work safe:
 * - a running mission's things are all kept;
 * - a task branch goes only when its work is in the base or the integration branch (by commit,
 *   or by patch: `git cherry`) and its worktree is clean; the integration branch only once it
 *   landed (its tip is in the base); checkpoints only of a landed mission's merged tasks; a
 *   candidate ref only when its commits are in the base or the integration branch;
 * - a worktree with modified tracked or untracked (not ignored) files is kept, with the files;
 * - every branch deleted is first recorded as `refs/flotilla/archive/<mission>/<leaf>`, and
 *   deleted with `git branch -d` (never `-D`); worktrees with `git worktree remove` (never forced).
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import execa from 'execa';
import { git, GitError, isAncestor, listWorktrees, resolveRef, withRepoLock, WorktreeEntry } from '../activities/git';
import { archiveRef, notInByPatch } from '../activities/land';
import { clearSetupLeftovers, unchangedSinceSetup, withStagedWorktree } from '../activities/setup-record';
import { names } from '../mission/types';

export type CleanKind =
  | 'task-worktree'
  | 'conflict-worktree'
  | 'integration-worktree'
  | 'task-branch'
  | 'integration-branch'
  | 'candidate-ref'
  | 'checkpoint-ref';

/** One thing Flotilla made for a mission. */
export interface CleanItem {
  mission: string;
  kind: CleanKind;
  /** A branch's short name, a ref's full name; for a worktree, the branch it has (or its folder's name). */
  name: string;
  /** Worktrees: the folder. */
  path?: string;
  /** Branches and refs: the commit it points at. */
  sha?: string;
  /** Branches: the ref their tip is recorded under before they are deleted. */
  archive?: string;
  /** Branches: a ref holding the tip (the base or the integration branch); `git branch -d` checks it. */
  mergedInto?: string;
  /** Worktrees: copies of the mission's `copy` files, identical to the repository's, removed first. */
  copies?: string[];
  /** Worktrees: what setup made and nobody changed since (a lock file), cleared first. */
  setupLeft?: string[];
}

/** Something kept, and why. */
export interface KeptItem extends CleanItem {
  reason: string;
}

/** What Temporal knows of a mission, for the plan (undefined fields: it does not know it). */
export interface MissionFacts {
  /** The workflow is not closed: everything of the mission is in use. */
  running: boolean;
  /** The base branch (the spec's); default the branch checked out in the repository's main worktree. */
  base?: string;
  /** The mission's `copy` files (relative to the repository). */
  copy?: string[];
}

export interface CleanPlan {
  /** The repository's main worktree. */
  repo: string;
  missions: string[];
  remove: CleanItem[];
  keep: KeptItem[];
}

const MISSION_ID = '[a-z0-9][a-z0-9-]{0,62}';

/**
 * The main worktree of the repository that holds `dir`.
 * @throws GitError when `dir` is not in a git repository
 */
export async function repositoryOf(dir: string): Promise<string> {
  const main = (await listWorktrees(dir))[0];
  return main.path;
}

/** Mission ids with anything in the repository: branches, refs, or worktrees under `$FLOTILLA_HOME`. */
export async function missionsIn(repo: string, home: string): Promise<string[]> {
  const ids = new Set<string>();
  const refs = await git(repo, [
    'for-each-ref',
    '--format=%(refname)',
    'refs/heads/flotilla/',
    'refs/flotilla/checkpoints/',
    'refs/flotilla/candidates/',
  ]);
  const re = new RegExp(`^refs/(?:heads/flotilla|flotilla/checkpoints|flotilla/candidates)/(${MISSION_ID})(?:/|$)`);
  for (const ref of refs.split('\n')) {
    const m = re.exec(ref);
    if (m) ids.add(m[1]);
  }
  for (const w of await listWorktrees(repo)) {
    const id = flotillaWorktree(w, home)?.mission;
    if (id) ids.add(id);
  }
  return [...ids].sort();
}

/**
 * What a worktree is to Flotilla, from its branch or its folder (`<home>/worktrees/<mission>/<run>/…`,
 * also a worker's own `$FLOTILLA_HOME`, recognised by that layout): or undefined for anyone else's.
 * The main worktree is never Flotilla's.
 */
function flotillaWorktree(
  w: WorktreeEntry,
  home: string,
): { mission: string; kind: 'task' | 'integration' | 'conflict'; task?: string } | undefined {
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
  if (layout[3]) return { mission: layout[1], kind: 'task', task: layout[3] };
  return { mission: layout[1], kind: 'conflict' };
}

/**
 * Why the worktree is not clean (modified tracked files, untracked files that are not ignored),
 * or null. Copies of the mission's `copy` files identical to the repository's do not count: they
 * go into `copies`, removed before `git worktree remove`; nor does what setup made that nobody
 * changed since (src/activities/setup-record.ts): `setupLeft`, cleared before it.
 */
async function dirtiness(
  repo: string,
  wt: string,
  copy: string[],
): Promise<{ reason: string | null; copies: string[]; setupLeft: string[] }> {
  if (!existsSync(wt)) return { reason: null, copies: [], setupLeft: [] };
  const fromSetup = new Set(
    (await withStagedWorktree(wt, { exclude: copy }, (env) => unchangedSinceSetup(wt, env)).catch(() => [])).map(
      (u) => u.path,
    ),
  );
  const setupLeft: string[] = [];
  const r = await execa('git', ['status', '--porcelain=v1', '-z', '--untracked-files=all'], {
    cwd: wt,
    reject: false,
    stdin: 'ignore',
  });
  if (r.exitCode !== 0) return { reason: `git status fails there: ${r.stderr.trim()}`, copies: [], setupLeft };
  const modified: string[] = [];
  const untracked: string[] = [];
  const copies: string[] = [];
  const entries = r.stdout.split('\0').filter(Boolean);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const [code, file] = [e.slice(0, 2), e.slice(3)];
    if (code[0] === 'R' || code[0] === 'C') i++; // the rename's source follows
    if (fromSetup.has(file)) setupLeft.push(file);
    else if (code !== '??') modified.push(file);
    else if (copy.includes(file) && sameFile(path.join(repo, file), path.join(wt, file))) copies.push(file);
    else untracked.push(file);
  }
  const parts: string[] = [];
  if (modified.length) parts.push(`modified: ${list(modified)}`);
  if (untracked.length) parts.push(`untracked: ${list(untracked)}`);
  return { reason: parts.length ? `uncommitted changes (${parts.join('; ')})` : null, copies, setupLeft };
}

function sameFile(a: string, b: string): boolean {
  try {
    return statSync(a).isFile() && statSync(b).isFile() && readFileSync(a).equals(readFileSync(b));
  } catch {
    return false;
  }
}

const list = (files: string[]): string =>
  files.length > 5 ? `${files.slice(0, 5).join(', ')} and ${files.length - 5} more` : files.join(', ');

/** Refs under `prefix` with their SHAs. */
async function refsUnder(repo: string, prefix: string): Promise<Array<{ ref: string; sha: string }>> {
  const out = await git(repo, ['for-each-ref', '--format=%(refname) %(objectname)', prefix]);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [ref, sha] = l.split(' ');
      return { ref, sha };
    });
}

/**
 * Plans the cleanup of `missionIds` in `repo` (see the file's comment for the rules); changes nothing.
 * @param facts what Temporal knows of each mission (a mission it does not know is not running)
 * @throws GitError when git fails
 */
export async function planCleanup(
  repo: string,
  home: string,
  missionIds: string[],
  facts: Map<string, MissionFacts>,
): Promise<CleanPlan> {
  const plan: CleanPlan = { repo, missions: missionIds, remove: [], keep: [] };
  const worktrees = await listWorktrees(repo);
  const mainBranch = worktrees[0]?.branch ?? undefined;
  for (const id of missionIds) {
    const f = facts.get(id) ?? { running: false };
    const remove = (item: CleanItem): void => void plan.remove.push(item);
    const keep = (item: CleanItem, reason: string): void => void plan.keep.push({ ...item, reason });

    const ours = worktrees.map((w) => ({ w, what: flotillaWorktree(w, home) })).filter((x) => x.what?.mission === id);
    const branches = await refsUnder(repo, `refs/heads/flotilla/${id}/`);
    const ib = names.integrationBranch(id);
    const intRef = branches.find((b) => b.ref === `refs/heads/${ib}`);
    const taskBranches = branches.filter((b) => b !== intRef);
    const checkpoints = await refsUnder(repo, `refs/flotilla/checkpoints/${id}/`);
    const candidates = [
      ...(await refsUnder(repo, `refs/flotilla/candidates/${id}`)).filter(
        (c) => c.ref === `refs/flotilla/candidates/${id}` || c.ref.startsWith(`refs/flotilla/candidates/${id}/`),
      ),
    ];
    const worktreeItem = (x: (typeof ours)[number]): CleanItem => ({
      mission: id,
      kind: `${x.what!.kind}-worktree`,
      name: x.w.branch ?? path.basename(x.w.path),
      path: x.w.path,
    });

    if (f.running) {
      const why = 'in use by a running mission';
      for (const x of ours) keep(worktreeItem(x), why);
      for (const b of taskBranches) keep({ mission: id, kind: 'task-branch', name: short(b.ref), sha: b.sha }, why);
      if (intRef) keep({ mission: id, kind: 'integration-branch', name: ib, sha: intRef.sha }, why);
      for (const c of candidates) keep({ mission: id, kind: 'candidate-ref', name: c.ref, sha: c.sha }, why);
      for (const c of checkpoints) keep({ mission: id, kind: 'checkpoint-ref', name: c.ref, sha: c.sha }, why);
      continue;
    }

    const base = f.base ?? mainBranch;
    const baseTip = base ? await resolveRef(repo, `refs/heads/${base}`) : undefined;
    const intTip = intRef?.sha ?? (await resolveRef(repo, archiveRef(id, 'integration')));
    const landed = !!(intTip && baseTip && (await isAncestor(repo, intTip, baseTip)));
    const copy = f.copy ?? [];

    /** The ref holding `sha` (the base, then the integration branch), 'patch' when only its patches are there, or null. */
    const mergedInto = async (sha: string): Promise<string | 'patch' | null> => {
      if (baseTip && (await isAncestor(repo, sha, baseTip))) return `refs/heads/${base}`;
      if (intTip && (await isAncestor(repo, sha, intTip))) return intRef ? intRef.ref : archiveRef(id, 'integration');
      for (const upstream of [baseTip, intTip])
        if (upstream && !(await notInByPatch(repo, upstream, sha))) return 'patch';
      return null;
    };
    const notMergedWhy = `not merged: it has commits whose changes are in neither ${base ?? 'the base branch'} nor ${ib}`;

    // Task branches, with the worktrees that have them checked out.
    const mergedTasks = new Set<string>();
    const handled = new Set<string>();
    for (const b of taskBranches) {
      const name = short(b.ref);
      const leaf = name.split('/').pop()!;
      const item: CleanItem = { mission: id, kind: 'task-branch', name, sha: b.sha };
      const holder = worktrees.find((w) => w.branch === name && !w.prunable);
      const x = ours.find((o) => o.w.branch === name);
      if (x) handled.add(x.w.path);
      if (holder && !x) {
        keep(item, `checked out in ${holder.path}, which is not Flotilla's`);
        continue;
      }
      const into = await mergedInto(b.sha);
      if (into && name.startsWith(`flotilla/${id}/tasks/`)) mergedTasks.add(leaf);
      if (!into) {
        keep(item, notMergedWhy);
        if (x) keep(worktreeItem(x), `its branch ${name} is not merged`);
        continue;
      }
      if (x) {
        const wt = worktreeItem(x);
        if (x.w.locked) {
          keep(wt, 'locked (git worktree unlock it first)');
          keep(item, `checked out in the locked worktree ${x.w.path}`);
          continue;
        }
        const d = await dirtiness(repo, x.w.path, copy);
        if (d.reason) {
          keep(wt, d.reason);
          keep(item, `checked out in ${x.w.path}, which has uncommitted changes`);
          continue;
        }
        remove({ ...wt, copies: d.copies, setupLeft: d.setupLeft });
      }
      remove({
        ...item,
        archive: archiveRef(id, leaf),
        mergedInto: into === 'patch' ? undefined : into,
      });
    }

    // Worktrees whose branch is not a task branch of the mission: conflicts, detached tasks, the integration.
    let integrationWorktreeKept = false;
    for (const x of ours) {
      if (handled.has(x.w.path)) continue;
      const item = worktreeItem(x);
      if (x.what!.kind === 'integration') {
        if (!landed) {
          keep(item, `${ib} has not landed on ${base ?? 'the base branch'}`);
          integrationWorktreeKept = integrationWorktreeKept || x.w.branch === ib;
          continue;
        }
      } else if (x.w.branch && x.w.branch !== ib) {
        keep(item, `has ${x.w.branch} checked out, which is not one of the mission's branches`);
        continue;
      }
      if (x.w.locked) {
        keep(item, 'locked (git worktree unlock it first)');
        integrationWorktreeKept = integrationWorktreeKept || x.w.branch === ib;
        continue;
      }
      const d = await dirtiness(repo, x.w.path, copy);
      if (d.reason) {
        keep(item, d.reason);
        integrationWorktreeKept = integrationWorktreeKept || x.w.branch === ib;
        continue;
      }
      remove({ ...item, copies: d.copies, setupLeft: d.setupLeft });
    }

    if (intRef) {
      const item: CleanItem = { mission: id, kind: 'integration-branch', name: ib, sha: intRef.sha };
      const foreign = worktrees.find((w) => w.branch === ib && !w.prunable && !ours.some((o) => o.w === w));
      if (!landed) keep(item, `not landed: its tip is not in ${base ?? 'the base branch'} (flotilla land ${id})`);
      else if (foreign) keep(item, `checked out in ${foreign.path}, which is not Flotilla's`);
      else if (integrationWorktreeKept) keep(item, 'checked out in the integration worktree, which is kept');
      else remove({ ...item, archive: archiveRef(id, 'integration'), mergedInto: `refs/heads/${base}` });
    }

    for (const c of candidates) {
      const item: CleanItem = { mission: id, kind: 'candidate-ref', name: c.ref, sha: c.sha };
      const into = await mergedInto(c.sha);
      if (into && into !== 'patch') remove(item);
      else keep(item, `holds merges that are in neither ${base ?? 'the base branch'} nor ${ib}`);
    }

    for (const c of checkpoints) {
      const item: CleanItem = { mission: id, kind: 'checkpoint-ref', name: c.ref, sha: c.sha };
      const task = c.ref.slice(`refs/flotilla/checkpoints/${id}/`.length);
      if (!landed) {
        keep(item, `the mission has not landed: it may hold work in progress`);
        continue;
      }
      const branchGone = !taskBranches.some((b) => short(b.ref) === names.taskBranch(id, task));
      const archived = branchGone ? await resolveRef(repo, archiveRef(id, task)) : undefined;
      const merged = mergedTasks.has(task) || (archived !== undefined && (await mergedInto(archived)) !== null);
      if (merged) remove(item);
      else keep(item, `task ${task}'s branch is not merged: the checkpoint may hold its only copy of work in progress`);
    }
  }
  return plan;
}

const short = (ref: string): string => ref.replace(/^refs\/heads\//, '');

/** What {@link executeCleanup} did. */
export interface CleanOutcome {
  removed: CleanItem[];
  /** What git refused (someone changed it since the plan), with git's reason. */
  failed: KeptItem[];
}

/** The order removals go in: worktrees before the branches they have checked out, branches before refs. */
const ORDER: CleanKind[] = [
  'task-worktree',
  'conflict-worktree',
  'task-branch',
  'integration-worktree',
  'integration-branch',
  'candidate-ref',
  'checkpoint-ref',
];

/**
 * Removes what the plan says, under the repository's lock (no Flotilla worker changes it
 * meanwhile). A branch's tip is recorded under its archive ref first (a different commit already
 * there: a second one, `<leaf>.<ms>`); `git branch -d` then deletes it, told (as its upstream)
 * the ref that holds its tip so that its own merged check runs against it; a branch whose work
 * is there by patch only is checked against its archive ref. Refs are deleted with
 * compare-and-swap. Whatever git refuses is reported, never forced.
 */
export async function executeCleanup(plan: CleanPlan): Promise<CleanOutcome> {
  const { repo } = plan;
  const outcome: CleanOutcome = { removed: [], failed: [] };
  const items = [...plan.remove].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  await withRepoLock(repo, async () => {
    for (const item of items) {
      try {
        if (item.kind.endsWith('-worktree')) {
          for (const c of item.copies ?? []) rmSync(path.join(item.path!, c), { force: true });
          await clearSetupLeftovers(item.path!, item.setupLeft ?? []);
          await git(repo, ['worktree', 'remove', item.path!]);
        } else if (item.kind.endsWith('-branch')) {
          const archived = await archive(repo, item.archive!, item.sha!);
          item.archive = archived;
          await deleteBranch(repo, item.name, item.mergedInto ?? archived);
        } else {
          await git(repo, ['update-ref', '-d', item.name, item.sha!]);
        }
        outcome.removed.push(item);
      } catch (err) {
        const why = err instanceof GitError ? err.output.trim().split('\n').pop()! : (err as Error).message;
        outcome.failed.push({ ...item, reason: `git refused: ${why}` });
      }
    }
  });
  return outcome;
}

/** Records `sha` under `ref` (or `<ref>.<ms>` when `ref` holds another commit). @returns the ref used */
async function archive(repo: string, ref: string, sha: string): Promise<string> {
  const there = await resolveRef(repo, ref);
  if (there === sha) return ref;
  // Task ids have no dots, so `<leaf>.<ms>` never collides with another task's archive.
  const name = there ? `${ref}.${Date.now()}` : ref;
  // The empty old value: create it, never overwrite.
  await git(repo, ['update-ref', '-m', 'flotilla clean: archive before deleting the branch', name, sha, '']);
  return name;
}

/** `git branch -d` with `upstream` as the branch's upstream for its merged check (the config goes with the branch). */
async function deleteBranch(repo: string, branch: string, upstream: string): Promise<void> {
  await git(repo, ['config', `branch.${branch}.remote`, '.']);
  await git(repo, ['config', `branch.${branch}.merge`, upstream]);
  try {
    await git(repo, ['branch', '-d', branch]);
  } catch (err) {
    await git(repo, ['config', '--unset', `branch.${branch}.remote`]).catch(() => undefined);
    await git(repo, ['config', '--unset', `branch.${branch}.merge`]).catch(() => undefined);
    throw err;
  }
}
