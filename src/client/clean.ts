/**
 * `flotilla clean`: what Flotilla made in a repository for its missions (worktrees, branches and
 * the refs under `refs/flotilla/`) and no longer needs, planned from git alone plus one fact from
 * Temporal (whether the mission still runs), then removed on request.
 *
 * The rules keep anyone's work safe:
 * - a running mission's things are all kept;
 * - a task branch goes only when its work is in the base or the integration branch (by commit,
 *   or all of its changes: `workIn`, src/git/merged.ts) and its worktree may go; the
 *   integration branch only once it landed (its tip is in the base); checkpoints only of a landed
 *   mission's merged tasks; a candidate ref only when its commits are in the base or the
 *   integration branch; the other refs as clean-refs.ts says (stale checkpoints archived, owner
 *   records and leases with the ref they are about);
 * - a worktree goes only when nothing in it can be lost: the rule `whyKeepWorktree`
 *   (src/git/worktree-safety.ts: no live agent, no git operation in progress, HEAD held by
 *   a ref, no modified tracked or untracked (not ignored) files), the same the merge queue
 *   applies; a kept worktree keeps its branch; a worktree whose removal Flotilla began before a
 *   crash (worktree-removal.ts) is finished instead of judged again;
 * - every branch deleted is first recorded as `refs/flotilla/archive/<mission>/<leaf>`, and
 *   deleted only after the merged check, by compare-and-swap (clean-execute.ts); worktrees with
 *   `git worktree remove` (never forced). Nothing is written to the repository's config.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { paths } from '../git/worktree-layout';
import { isAncestor, resolveRef } from '../git/git';
import { archiveRef, workIn } from '../git/merged';
import { removalStarted } from '../git/worktree-removal';
import { KeepVerdict, whyKeepWorktree } from '../git/worktree-safety';
import { worktreeStates, WorktreeState } from '../git/worktree-state';
import { names } from '../mission/types';
import { FlotillaWorktree, flotillaWorktree, removalsBegun } from './clean-find';
import { keepAll, missionRefs, planRecords, planWorkRefs, Ref, refsUnder } from './clean-refs';

export { CleanOutcome, executeCleanup } from './clean-execute';
export { missionsIn, repositoryOf } from './clean-find';

export type CleanKind =
  | 'task-worktree'
  | 'conflict-worktree'
  | 'integration-worktree'
  | 'task-branch'
  | 'integration-branch'
  | 'candidate-ref'
  | 'merge-ref'
  | 'checkpoint-ref'
  | 'stale-checkpoint-ref'
  | 'owner-ref'
  | 'lease-ref';

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
  /** Branches and stale checkpoints: the ref their tip is recorded under before they are deleted. */
  archive?: string;
  /** Branches: the ref whose commit holds the branch's work (by commit or by content), checked again before the delete. */
  mergedInto?: string;
  /** Worktrees: what is nobody's work there (identical `copy` files, setup's leftovers), cleared first. */
  removable?: KeepVerdict;
  /** Worktrees: a removal Flotilla began before a crash, finished (worktree-removal.ts) rather than judged again. */
  finish?: boolean;
  /** Worktrees: PID files of the agents that may run there (checked again before removing). */
  pidFiles?: string[];
  /** Owner and lease refs: the ref they are about; they go only once it is gone. */
  about?: string;
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

const short = (ref: string): string => ref.replace(/^refs\/heads\//, '');

type Ours = { w: WorktreeState; what: FlotillaWorktree };

/** One mission's things and facts while its plan is made. */
export interface Planning {
  id: string;
  repo: string;
  home: string;
  worktrees: WorktreeState[];
  ours: Ours[];
  taskBranches: Ref[];
  intRef: Ref | undefined;
  /** The integration branch's short name. */
  ib: string;
  base: string | undefined;
  landed: boolean;
  copy: string[];
  remove: (item: CleanItem) => void;
  keep: (item: CleanItem, reason: string) => void;
  /** The ref whose commit holds `sha` (the base, then the integration branch), or null. */
  ancestorIn: (sha: string) => Promise<string | null>;
  /** The ref whose commit holds the work of `sha` by commit or by content (`workIn`), or null. */
  mergedInto: (sha: string) => Promise<string | null>;
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
  const worktrees = await worktreeStates(repo);
  for (const id of missionIds) {
    const remove = (item: CleanItem): void => void plan.remove.push(item);
    const keep = (item: CleanItem, reason: string): void => void plan.keep.push({ ...item, reason });
    const ours = worktrees.flatMap((w) => {
      const what = flotillaWorktree(w, home);
      return what?.mission === id ? [{ w, what }] : [];
    });
    const branches = await refsUnder(repo, `refs/heads/flotilla/${id}/`);
    const ib = names.integrationBranch(id);
    const intRef = branches.find((b) => b.ref === `refs/heads/${ib}`);
    const taskBranches = branches.filter((b) => b !== intRef);
    const refs = await missionRefs(repo, id);
    const f = facts.get(id) ?? { running: false };
    if (f.running) {
      const why = 'in use by a running mission';
      for (const x of ours) keep(worktreeItem(id, x), why);
      for (const b of taskBranches) keep({ mission: id, kind: 'task-branch', name: short(b.ref), sha: b.sha }, why);
      if (intRef) keep({ mission: id, kind: 'integration-branch', name: ib, sha: intRef.sha }, why);
      keepAll({ id, keep }, refs, why);
      continue;
    }
    const base = f.base ?? worktrees[0]?.branch ?? undefined;
    const baseTip = base ? await resolveRef(repo, `refs/heads/${base}`) : undefined;
    const intName = intRef ? intRef.ref : archiveRef(id, 'integration');
    const intTip = intRef?.sha ?? (await resolveRef(repo, intName));
    const landed = !!(intTip && baseTip && (await isAncestor(repo, intTip, baseTip)));
    const tips = [
      ...(baseTip ? [{ ref: `refs/heads/${base}`, sha: baseTip }] : []),
      ...(intTip ? [{ ref: intName, sha: intTip }] : []),
    ];
    const ancestorIn = async (sha: string): Promise<string | null> => {
      for (const t of tips) if (await isAncestor(repo, sha, t.sha)) return t.ref;
      return null;
    };
    const mergedInto = async (sha: string): Promise<string | null> => {
      for (const t of tips) if (await workIn(repo, t.sha, sha)) return t.ref;
      return null;
    };
    const p: Planning = {
      ...{ id, repo, home, worktrees, ours, taskBranches, intRef, ib, base, landed, copy: f.copy ?? [] },
      ...{ remove, keep, ancestorIn, mergedInto },
    };
    planRemovalsBegun(p);
    const { mergedTasks, handled } = await planTaskBranches(p);
    const integrationWorktreeKept = await planOtherWorktrees(p, handled);
    planIntegrationBranch(p, integrationWorktreeKept);
    await planWorkRefs(p, refs, mergedTasks);
    const removed = new Set(
      plan.remove
        .filter((i) => i.mission === id)
        .map((i) => (i.kind.endsWith('-branch') ? `refs/heads/${i.name}` : i.name)),
    );
    await planRecords(p, refs, removed);
  }
  return plan;
}

function worktreeItem(mission: string, x: Ours): CleanItem {
  return { mission, kind: `${x.what.kind}-worktree`, name: x.w.branch ?? path.basename(x.w.path), path: x.w.path };
}

/**
 * Folders whose removal Flotilla began that git no longer lists (its record pruned once their
 * `.git` file was gone): finished like the listed ones (worktree-removal.ts).
 */
function planRemovalsBegun(p: Planning): void {
  for (const dir of removalsBegun(p.home, p.id)) {
    if (p.ours.some((o) => path.resolve(o.w.path) === dir)) continue;
    const w: WorktreeState = {
      ...{ path: dir, head: null, branch: null, main: false, locked: false, prunable: true },
      ...{ operation: null, holds: null },
    };
    const what = flotillaWorktree(w, p.home);
    if (!what) continue;
    const task = what.task && (what.kind === 'conflict' ? paths.resolverDir : paths.runDir)(p.home, p.id, what.task);
    const pidFiles = task ? [path.join(task, 'agent.pid')] : [];
    p.remove({ ...worktreeItem(p.id, { w, what }), finish: true, pidFiles });
  }
}

/** {@link worktreeVerdict}'s answer: the rule's verdict, and how a removal goes. */
type WorktreeVerdict = KeepVerdict & Pick<CleanItem, 'finish' | 'pidFiles'>;

/**
 * Why Flotilla's worktree `x` must stay ({@link whyKeepWorktree}: a live agent, an operation in
 * progress, HEAD on a commit only it holds, changes; or it is locked, or no longer a git
 * worktree), or null with the identical `copy` files to delete before removing it. A worktree
 * whose removal Flotilla began before a crash is not judged again: it is finished
 * (worktree-removal.ts, `finish`).
 */
async function worktreeVerdict(p: Planning, x: Ours): Promise<WorktreeVerdict> {
  const task = x.what.task;
  const runDir = task
    ? x.what.kind === 'conflict'
      ? paths.resolverDir(p.home, p.id, task)
      : paths.runDir(p.home, p.id, task)
    : undefined;
  const pidFiles = runDir ? [path.join(runDir, 'agent.pid')] : [];
  const none = { identicalCopies: [], setupLeftovers: [], pidFiles };
  if (removalStarted(x.w.path)) return { reason: null, ...none, finish: true };
  if (x.w.locked) return { reason: 'locked (git worktree unlock it first)', ...none };
  if (!existsSync(x.w.path)) return { reason: null, ...none };
  if (!existsSync(path.join(x.w.path, '.git')))
    return { reason: 'no longer a git worktree (its .git is gone); left for a person to look at', ...none };
  const v = await whyKeepWorktree({ repo: p.repo, worktree: x.w.path, copy: p.copy, pidFiles });
  return { ...v, pidFiles };
}

/** A worktree item that goes, with what its removal needs. */
const removableWorktree = (p: Planning, x: Ours, v: WorktreeVerdict): CleanItem => ({
  ...worktreeItem(p.id, x),
  removable: { reason: null, identicalCopies: v.identicalCopies, setupLeftovers: v.setupLeftovers },
  finish: v.finish,
  pidFiles: v.pidFiles,
});

/**
 * Task branches, with Flotilla's worktrees that use them (checked out, or being rebased or
 * bisected there): a branch goes when its work is merged and its worktree (if any) may go.
 * @returns the merged tasks' ids and the worktrees judged here
 */
async function planTaskBranches(p: Planning): Promise<{ mergedTasks: Set<string>; handled: Set<string> }> {
  const mergedTasks = new Set<string>();
  const handled = new Set<string>();
  const notMergedWhy = `not merged: it has commits whose changes are in neither ${p.base ?? 'the base branch'} nor ${p.ib}`;
  for (const b of p.taskBranches) {
    const name = short(b.ref);
    const leaf = name.split('/').pop()!;
    const item: CleanItem = { mission: p.id, kind: 'task-branch', name, sha: b.sha };
    const holder = p.worktrees.find((w) => w.holds === name && !w.prunable);
    const x = p.ours.find((o) => o.w.holds === name);
    if (x) handled.add(x.w.path);
    if (holder && !x) {
      p.keep(item, `checked out in ${holder.path}, which is not Flotilla's`);
      continue;
    }
    const into = await p.mergedInto(b.sha);
    if (!into) {
      p.keep(item, notMergedWhy);
      if (x) p.keep(worktreeItem(p.id, x), `its branch ${name} is not merged`);
      continue;
    }
    if (name.startsWith(`flotilla/${p.id}/tasks/`)) mergedTasks.add(leaf);
    if (x) {
      const v = await worktreeVerdict(p, x);
      if (v.reason) {
        p.keep(worktreeItem(p.id, x), v.reason);
        p.keep(item, `checked out in ${x.w.path}, which is kept (${v.reason})`);
        continue;
      }
      p.remove(removableWorktree(p, x, v));
    }
    p.remove({ ...item, archive: archiveRef(p.id, leaf), mergedInto: into });
  }
  return { mergedTasks, handled };
}

/**
 * Flotilla's worktrees whose branch is not a task branch of the mission: conflicts, detached
 * tasks, the integration worktree (only once the mission landed).
 * @returns whether a worktree that has the integration branch checked out is kept
 */
async function planOtherWorktrees(p: Planning, handled: Set<string>): Promise<boolean> {
  let integrationWorktreeKept = false;
  for (const x of p.ours) {
    if (handled.has(x.w.path)) continue;
    const item = worktreeItem(p.id, x);
    const hasIb = x.w.holds === p.ib;
    if (x.what.kind === 'integration' && !p.landed) {
      p.keep(item, `${p.ib} has not landed on ${p.base ?? 'the base branch'}`);
      integrationWorktreeKept ||= hasIb;
      continue;
    }
    if (x.what.kind !== 'integration' && x.w.holds && x.w.holds !== p.ib) {
      p.keep(item, `has ${x.w.holds} checked out, which is not one of the mission's branches`);
      continue;
    }
    const v = await worktreeVerdict(p, x);
    if (v.reason) {
      p.keep(item, v.reason);
      integrationWorktreeKept ||= hasIb;
      continue;
    }
    p.remove(removableWorktree(p, x, v));
  }
  return integrationWorktreeKept;
}

/** The integration branch: it goes once it landed and no worktree that is kept uses it. */
function planIntegrationBranch(p: Planning, integrationWorktreeKept: boolean): void {
  if (!p.intRef) return;
  const item: CleanItem = { mission: p.id, kind: 'integration-branch', name: p.ib, sha: p.intRef.sha };
  const foreign = p.worktrees.find((w) => w.holds === p.ib && !w.prunable && !p.ours.some((o) => o.w === w));
  if (!p.landed) p.keep(item, `not landed: its tip is not in ${p.base ?? 'the base branch'} (flotilla land ${p.id})`);
  else if (foreign) p.keep(item, `checked out in ${foreign.path}, which is not Flotilla's`);
  else if (integrationWorktreeKept) p.keep(item, 'checked out in the integration worktree, which is kept');
  else p.remove({ ...item, archive: archiveRef(p.id, 'integration'), mergedInto: `refs/heads/${p.base}` });
}
