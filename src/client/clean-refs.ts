/**
 * `flotilla clean`'s rules for a mission's refs under `refs/flotilla/` (its branches and worktrees:
 * clean.ts). Every kind of ref Flotilla writes (docs/architecture.md, "Where state lives"):
 * - candidate `refs/flotilla/candidates/<m>` and merges `refs/flotilla/merges/<m>/<task>` (pushed
 *   to a shared origin): removed when their commits are in the base or the integration branch;
 * - checkpoints `refs/flotilla/checkpoints/<m>/<task>`: of a landed mission's merged tasks only;
 * - stale checkpoints `refs/flotilla/stale-checkpoints/<m>/<task>/<ms>` (a discarded worktree's
 *   files, an earlier run's checkpoint): they may hold work, so they are archived, never deleted:
 *   moved to `refs/flotilla/archive/<m>/<task>.stale-<ms>` (task ids have no dots);
 * - owner records `refs/flotilla/owners/<branch>` (branch-owner.ts) and leases
 *   `refs/flotilla/leases/<ref without refs/>` (origin.ts): they hold no work, only facts about
 *   another ref, and go once that ref is gone (or goes in this plan);
 * - archives `refs/flotilla/archive/<m>/…` stay: they are what clean leaves on purpose.
 * A running mission keeps all of them.
 */
import { git, resolveRef } from '../git/git';
import { archiveRef } from '../git/merged';
import type { CleanItem, CleanKind, Planning } from './clean';

/** A ref and the object it points at. */
export type Ref = { ref: string; sha: string };

/** Refs under `prefix` with their SHAs. */
export async function refsUnder(repo: string, ...prefixes: string[]): Promise<Ref[]> {
  const out = await git(repo, ['for-each-ref', '--format=%(refname) %(objectname)', ...prefixes]);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [ref, sha] = l.split(' ');
      return { ref, sha };
    });
}

/** A mission's refs under `refs/flotilla/`, by kind. */
export interface MissionRefs {
  candidates: Ref[];
  merges: Ref[];
  checkpoints: Ref[];
  stale: Ref[];
  owners: Ref[];
  leases: Ref[];
}

/** `refs/flotilla/<kind>/<m>` itself or under it (a prefix match would take mission `<m>-2` too). */
const ofMission = (refs: Ref[], prefix: string): Ref[] =>
  refs.filter((r) => r.ref === prefix || r.ref.startsWith(`${prefix}/`));

/** Every ref of mission `id` under `refs/flotilla/` but its archives. */
export async function missionRefs(repo: string, id: string): Promise<MissionRefs> {
  const leases = 'refs/flotilla/leases';
  return {
    candidates: ofMission(await refsUnder(repo, `refs/flotilla/candidates/${id}`), `refs/flotilla/candidates/${id}`),
    merges: await refsUnder(repo, `refs/flotilla/merges/${id}/`),
    checkpoints: await refsUnder(repo, `refs/flotilla/checkpoints/${id}/`),
    stale: await refsUnder(repo, `refs/flotilla/stale-checkpoints/${id}/`),
    owners: await refsUnder(repo, `refs/flotilla/owners/flotilla/${id}/`),
    leases: [
      ...(await refsUnder(repo, `${leases}/heads/flotilla/${id}/`, `${leases}/flotilla/checkpoints/${id}/`)),
      ...(await refsUnder(repo, `${leases}/flotilla/merges/${id}/`)),
      ...ofMission(await refsUnder(repo, `${leases}/flotilla/candidates/${id}`), `${leases}/flotilla/candidates/${id}`),
    ],
  };
}

const item = (mission: string, kind: CleanKind, r: Ref): CleanItem => ({ mission, kind, name: r.ref, sha: r.sha });

/** Keeps every ref of a running mission. */
export function keepAll(p: Pick<Planning, 'id' | 'keep'>, refs: MissionRefs, why: string): void {
  const kinds: Array<[CleanKind, Ref[]]> = [
    ['candidate-ref', refs.candidates],
    ['merge-ref', refs.merges],
    ['checkpoint-ref', refs.checkpoints],
    ['stale-checkpoint-ref', refs.stale],
    ['owner-ref', refs.owners],
    ['lease-ref', refs.leases],
  ];
  for (const [kind, list] of kinds) for (const r of list) p.keep(item(p.id, kind, r), why);
}

/** Candidate and merge refs, checkpoints and stale checkpoints (see the file's comment). */
export async function planWorkRefs(p: Planning, refs: MissionRefs, mergedTasks: Set<string>): Promise<void> {
  const notIn = `holds merges that are in neither ${p.base ?? 'the base branch'} nor ${p.ib}`;
  for (const [kind, list] of [
    ['candidate-ref', refs.candidates],
    ['merge-ref', refs.merges],
  ] as const) {
    for (const r of list) {
      if (await p.ancestorIn(r.sha)) p.remove(item(p.id, kind, r));
      else p.keep(item(p.id, kind, r), notIn);
    }
  }
  await planCheckpoints(p, refs.checkpoints, mergedTasks);
  const stalePrefix = `refs/flotilla/stale-checkpoints/${p.id}/`;
  for (const r of refs.stale) {
    const [task, ms] = r.ref.slice(stalePrefix.length).split('/');
    p.remove({ ...item(p.id, 'stale-checkpoint-ref', r), archive: archiveRef(p.id, `${task}.stale-${ms}`) });
  }
}

/** Checkpoint refs: of a landed mission's merged tasks only (a checkpoint may hold work in progress). */
async function planCheckpoints(p: Planning, checkpoints: Ref[], mergedTasks: Set<string>): Promise<void> {
  for (const c of checkpoints) {
    const it = item(p.id, 'checkpoint-ref', c);
    const task = c.ref.slice(`refs/flotilla/checkpoints/${p.id}/`.length);
    if (!p.landed) {
      p.keep(it, `the mission has not landed: it may hold work in progress`);
      continue;
    }
    const branchGone = !p.taskBranches.some((b) => b.ref === `refs/heads/flotilla/${p.id}/tasks/${task}`);
    const archived = branchGone ? await resolveRef(p.repo, archiveRef(p.id, task)) : undefined;
    const merged = mergedTasks.has(task) || (archived !== undefined && (await p.mergedInto(archived)) !== null);
    if (merged) p.remove(it);
    else p.keep(it, `task ${task}'s branch is not merged: the checkpoint may hold its only copy of work in progress`);
  }
}

/**
 * Owner records and leases, after everything else is planned: each goes when the ref it is
 * about does not exist or goes in `removed` (full ref names), else it stays with that ref.
 */
export async function planRecords(p: Planning, refs: MissionRefs, removed: Set<string>): Promise<void> {
  const records: Array<[CleanKind, Ref, string]> = [
    ...refs.owners.map((r): [CleanKind, Ref, string] => [
      'owner-ref',
      r,
      `refs/heads/${r.ref.slice('refs/flotilla/owners/'.length)}`,
    ]),
    ...refs.leases.map((r): [CleanKind, Ref, string] => [
      'lease-ref',
      r,
      `refs/${r.ref.slice('refs/flotilla/leases/'.length)}`,
    ]),
  ];
  for (const [kind, r, about] of records) {
    const it = { ...item(p.id, kind, r), about };
    if (removed.has(about) || !(await resolveRef(p.repo, about))) p.remove(it);
    else p.keep(it, `${about} stays`);
  }
}
