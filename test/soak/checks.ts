/**
 * The soak's end checks. Each returns the violations it found (empty: all held), so one run
 * reports every broken promise at once instead of stopping at the first.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { names } from '../../src/mission/types';
import { fileAt, mergeSubjects } from '../faults/harness';
import { git } from '../helpers/git';
import { ProcInfo } from '../helpers/procs';
import type { Filled } from './driver';
import { CONFLICT_PAIR, expectedContent, SoakPlan, USER } from './mission';

/** What of the user's must stay byte-identical: refs (but the base and Flotilla's), HEAD, config, their files, status. */
export interface UserSnapshot {
  refs: string;
  head: string;
  config: string;
  edited: string;
  untracked: string;
  status: string;
}

export function userSnapshot(repo: string): UserSnapshot {
  const refs = git(repo, 'for-each-ref', '--format=%(refname) %(objectname)')
    .split('\n')
    .filter((l) => !/^refs\/heads\/main |^refs\/heads\/flotilla\/|^refs\/flotilla\//.test(l))
    .join('\n');
  return {
    refs,
    head: readFileSync(path.join(repo, '.git', 'HEAD'), 'utf8'),
    config: readFileSync(path.join(repo, '.git', 'config'), 'utf8'),
    edited: readFileSync(path.join(repo, USER.editedFile), 'utf8'),
    untracked: readFileSync(path.join(repo, USER.untrackedFile), 'utf8'),
    status: git(repo, 'status', '--porcelain'),
  };
}

/** Each field of the snapshot that differs, with both values. */
export function userChanges(before: UserSnapshot, after: UserSnapshot): string[] {
  return (Object.keys(before) as (keyof UserSnapshot)[])
    .filter((k) => before[k] !== after[k])
    .map((k) => `the user's ${k} changed:\n--- before\n${before[k]}\n--- after\n${after[k]}`);
}

/** The mission completed with every task merged once, each output as expected, the conflict resolved keeping both sides. */
export function missionViolations(
  repo: string,
  missionId: string,
  plan: SoakPlan,
  p: MissionProgress | undefined,
  filled: Filled,
): string[] {
  const v: string[] = [];
  if (!p) return ['no final status of the mission'];
  if (p.phase !== 'completed') v.push(`mission phase ${p.phase} (${p.reason ?? 'no reason'}), not completed`);
  const notMerged = p.tasks.filter((t) => t.status !== 'merged').map((t) => `${t.id}:${t.status}`);
  if (notMerged.length) v.push(`tasks not merged: ${notMerged.join(' ')}`);
  const integration = p.integrationSha ?? names.integrationBranch(missionId);
  const subjects = mergeSubjects(repo, integration);
  const perTask = plan.tasks
    .map((t) => [t.id, subjects.filter((s) => s.startsWith(`flotilla: merge ${t.id}: `)).length] as const)
    .filter(([, n]) => n !== 1);
  if (perTask.length)
    v.push(`tasks without exactly one merge commit: ${perTask.map(([id, n]) => `${id}:${n}`).join(' ')}`);
  if (subjects.length !== plan.tasks.length)
    v.push(`${subjects.length} merge commits on the integration branch for ${plan.tasks.length} tasks`);
  const memo = new Map<string, string>();
  for (const t of plan.tasks) {
    const want = expectedContent(plan.tasks, t.id, memo).trim();
    const got = fileAt(repo, integration, `out/${t.id}.txt`);
    if (got !== want)
      v.push(`out/${t.id}.txt on the integration branch: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  }
  const shared = (fileAt(repo, integration, 'shared.txt') ?? '').split('\n');
  for (const id of CONFLICT_PAIR)
    if (!shared.includes(`${id} was here`)) v.push(`shared.txt lost ${id}'s line: ${JSON.stringify(shared)}`);
  if (shared.some((l) => /^(<{7}|={7}|>{7})/.test(l))) v.push('shared.txt has conflict markers');
  const conflicts = p.mergeQueue?.conflicts ?? [];
  const pair = conflicts.filter((c) => (CONFLICT_PAIR as readonly string[]).includes(c.taskId));
  if (pair.length !== 1 || !['resolved', 'replayed'].includes(pair[0].state))
    v.push(`the conflict of ${CONFLICT_PAIR.join('/')}: ${JSON.stringify(conflicts)}`);
  // The fill's files are the target's work now: committed and merged, byte for byte.
  const tree = new Map(
    git(repo, 'ls-tree', '-r', integration, '--', 'junk')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.split('\t')[1], l.split(' ')[2].split('\t')[0]] as const),
  );
  const lost = Object.entries(filled).filter(([rel, id]) => tree.get(rel) !== id);
  if (lost.length)
    v.push(
      `${lost.length} of ${Object.keys(filled).length} filled files not on the integration branch as written (e.g. ${lost[0][0]})`,
    );
  return v;
}

/** Processes left from the run, each described. */
export function leftProcesses(procs: ProcInfo[], when: string): string[] {
  return procs.map((p) => `${when}: process ${p.pid} left (cwd ${p.cwd}): ${p.cmd.slice(0, 200)}`);
}

/** Regular files under `dir`, relative paths (none when it does not exist). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const f = path.join(d, e);
      if (statSync(f).isDirectory()) walk(f);
      else out.push(path.relative(dir, f));
    }
  };
  walk(dir);
  return out;
}

/**
 * After `land` and `clean --yes`: no worktree of the mission (git's list, or files on disk but
 * verify logs), no
 * branch or ref of it but the archive refs `clean` documents (README, "Landing and cleaning up":
 * each deleted branch's tip is kept as `refs/flotilla/archive/<id>/<leaf>`, each stale checkpoint
 * as `refs/flotilla/archive/<id>/<task>.stale-<ms>`).
 */
export function leftovers(repo: string, missionId: string, plan: SoakPlan, worktrees: string): string[] {
  const v: string[] = [];
  const listed = git(repo, 'worktree', 'list', '--porcelain')
    .split('\n')
    .filter((l) => l.startsWith('worktree '))
    .map((l) => l.slice('worktree '.length));
  if (listed.length !== 1 || listed[0] !== repo)
    v.push(`worktrees left: ${listed.filter((w) => w !== repo).join(', ')}`);
  // Verify logs (`<worktree>.verify.log`) stay beside the worktrees on purpose (src/git/cleanup.ts:
  // logs and evidence, like the transcripts); anything else there is a worktree's remains.
  const files = filesUnder(worktrees).filter((f) => !f.endsWith('.verify.log'));
  if (files.length) v.push(`${files.length} files left under ${worktrees} (e.g. ${files.slice(0, 3).join(', ')})`);
  const refs = git(repo, 'for-each-ref', '--format=%(refname)', 'refs/heads/flotilla', 'refs/flotilla')
    .split('\n')
    .filter(Boolean);
  const archive = `refs/flotilla/archive/${missionId}/`;
  const others = refs.filter((r) => !r.startsWith(archive));
  if (others.length) v.push(`refs left: ${others.join(', ')}`);
  const want = [...plan.tasks.map((t) => t.id), 'integration'].map((leaf) => archive + leaf).sort();
  // Stale checkpoints (a worktree discarded and made again) are archived as `<task>.stale-<ms>`.
  const archived = refs.filter((r) => r.startsWith(archive) && !/\.stale-\d+$/.test(r)).sort();
  if (JSON.stringify(archived) !== JSON.stringify(want))
    v.push(
      `archive refs: ${archived.length} (${archived.slice(0, 3).join(', ')}…), expected one per branch (${want.length})`,
    );
  let branchConfig = '';
  try {
    branchConfig = git(repo, 'config', '--get-regexp', '^branch\\.flotilla/');
  } catch {
    // git config exits 1 when nothing matches.
  }
  if (branchConfig) v.push(`branch config left: ${branchConfig.split('\n').slice(0, 3).join('; ')}`);
  return v;
}
