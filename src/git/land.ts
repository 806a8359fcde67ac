/**
 * Landing a mission: putting the integration branch's verified merges on the base branch, by a
 * fast-forward of the local base (`ff`), a push to a remote's base (`push`), or a pushed branch
 * and a pull request (`pr`). The same code runs for `flotilla land` (called directly by the CLI,
 * on the host that holds the repository) and for the `landMission` activity (a mission whose
 * `land:` field asks for it).
 *
 * Nothing lands unchecked: every merged task's work must be in the integration branch, and when
 * the base branch moved since the mission started, the base is merged into a candidate commit
 * (without a worktree) and the mission verify runs on that candidate, in Flotilla's own
 * integration worktree, before anything moves (land-verify.ts). A person's checkout is touched
 * only by `git merge --ff-only` of the base, and only when its tracked files are unmodified and
 * no git operation is in progress there; a checkout of the integration branch is only read.
 * Outcomes a person must act on are results (`needs-human`, `failed`), with a message that says
 * what happened, why, and what to do (commands to paste as they are); errors are git failing
 * unexpectedly.
 *
 * The pieces: land-types.ts (shapes), land-git.ts (merge without a worktree, fast-forward,
 * remote tip, leased push), land-pr.ts (pull request), land-verify.ts (the verify's worktree and
 * the advice), merged.ts (is a task's work in a commit).
 */
import { isAncestor, resolveRef } from './git';
import { defaultRemote, fastForwardBase, fetchRemoteTip, mergeWithoutWorktree, pushLeased, short } from './land-git';
import { openPullRequest } from './land-pr';
import type { LandMissionInput, LandOptions, LandResult } from './land-types';
import { fixAdvice, integrationInUse, verifyInOwnWorktree } from './land-verify';
import { missingTasks } from './merged';
import { shellQuote } from '../mission/shell-quote';

export * from './land-types';
export { checkoutOf, defaultRemote, fastForwardBase, mergeWithoutWorktree } from './land-git';
export { prDescription } from './land-pr';
export { archiveRef, missingTasks, notInByPatch } from './merged';

/** The command that runs a landing again: `opts.rerun`, else `flotilla land <id>` with the mode's flags. */
function rerunCommand(input: LandMissionInput, opts: LandOptions, remote: string | null): string {
  if (opts.rerun) return opts.rerun;
  const flags = remote === null ? [] : ['--push', remote, ...(input.mode === 'pr' ? ['--pr'] : [])];
  return ['flotilla', 'land', input.missionId, ...flags].map(shellQuote).join(' ');
}

/** What the steps of a landing share. */
interface Landing {
  input: LandMissionInput;
  opts: LandOptions;
  /** `push`/`pr`: the remote; null for `ff`. */
  remote: string | null;
  /** The command that lands again, and the sentence that says to run it. */
  rerun: string;
  again: string;
}

type Outcome = Omit<Extract<LandResult, { status: 'landed' }>, 'status' | 'mode' | 'base' | 'remote' | 'tasks'>;

/** The `landed` result of `l`. */
function landed(l: Landing, r: Partial<Outcome> & Pick<Outcome, 'landed' | 'baseBefore'>): LandResult {
  return {
    status: 'landed',
    landed: r.landed,
    mode: l.input.mode,
    base: l.input.baseBranch,
    baseBefore: r.baseBefore,
    baseMerged: r.baseMerged ?? false,
    verified: r.verified ?? false,
    alreadyLanded: r.alreadyLanded ?? false,
    checkout: r.checkout ?? null,
    remote: l.remote,
    pushed: r.pushed ?? [],
    pr: r.pr ?? null,
    tasks: l.input.tasks.map((t) => t.id),
  };
}

/**
 * Lands the mission (see the file's comment): checks the merged tasks are in the integration
 * branch and nobody is working on it, merges a moved base into a verified candidate, then
 * fast-forwards, pushes, or pushes the integration branch and opens a pull request. Idempotent:
 * when the base already contains the mission's work it reports `alreadyLanded` and changes
 * nothing, so a retried activity whose first attempt landed finishes exactly once.
 *
 * The integration branch may have gained commits since the mission ended (a person merged the
 * moved base into it after a conflict): then what lands is its current tip, verified first.
 * @throws GitError when git fails unexpectedly (the remote cannot be reached, a corrupt repository)
 */
export async function landMission(input: LandMissionInput, opts: LandOptions): Promise<LandResult> {
  const remote = input.mode === 'ff' ? null : (input.remote ?? (await defaultRemote(input.repo, input.baseBranch)));
  const rerun = rerunCommand(input, opts, remote);
  const l: Landing = { input, opts, remote, rerun, again: `run \`${rerun}\` again` };
  const baseTip = await baseTipOf(l);
  if (typeof baseTip === 'object' && baseTip !== null) return baseTip;
  const checked = await checkIntegration(l, baseTip);
  if ('status' in checked) return checked;
  // Someone is working on the integration branch: what they have not committed would not land.
  const inUse = await integrationInUse(input, opts.home, l.again);
  if (inUse) return inUse;
  const c = await candidate(l, checked.tip, checked.handMade, baseTip);
  if ('status' in c) return c;
  return deliver(l, c, baseTip);
}

/**
 * What the base holds now: the local branch for `ff`, the remote's for `push` and `pr` (null:
 * the remote has none, which a `push` creates).
 */
async function baseTipOf(l: Landing): Promise<string | null | LandResult> {
  const { repo, missionId, baseBranch: base } = l.input;
  if (l.input.mode === 'ff') {
    const tip = await resolveRef(repo, `refs/heads/${base}`);
    if (tip) return tip;
    return {
      status: 'failed',
      reason: 'base-missing',
      message: `the base branch ${base} does not exist in ${repo} any more, so there is nothing to fast-forward; land with \`flotilla land ${missionId} --push REMOTE\`, or create ${base} again`,
    };
  }
  const tip = await fetchRemoteTip(repo, l.remote!, base, missionId);
  if (!tip && l.input.mode === 'pr')
    return {
      status: 'failed',
      reason: 'base-missing',
      message: `${l.remote} has no branch ${base} for a pull request to go to; push it first (\`git push ${l.remote} ${base}\`), then ${l.again}`,
    };
  return tip;
}

/**
 * The integration branch's tip, checked: it exists (or already landed), still holds what the
 * mission ended with, and holds every merged task's work.
 * @returns its tip and whether commits were added since the mission ended, or the result
 */
async function checkIntegration(
  l: Landing,
  baseTip: string | null,
): Promise<{ tip: string; handMade: boolean } | LandResult> {
  const { repo, missionId, integrationBranch: ib, integrationSha } = l.input;
  const tip = await resolveRef(repo, `refs/heads/${ib}`);
  if (!tip) {
    // `flotilla clean` deletes the integration branch only once it landed.
    if (baseTip && (await isAncestor(repo, integrationSha, baseTip)))
      return landed(l, { landed: baseTip, baseBefore: baseTip, alreadyLanded: true });
    return {
      status: 'failed',
      reason: 'integration-missing',
      message: `the integration branch ${ib} is gone from ${repo}, so mission ${missionId} has nothing to land; it ended at ${integrationSha}: recreate it with \`git branch ${ib} ${integrationSha}\` if that commit still exists, then ${l.again}`,
    };
  }
  const handMade = tip !== integrationSha;
  if (handMade && !(await isAncestor(repo, integrationSha, tip)))
    return {
      status: 'failed',
      reason: 'integration-rewritten',
      message: `${ib} no longer contains the commit mission ${missionId} ended with (${short(integrationSha)}): its history was rewritten since, and landing it could drop verified merges. Put it back (\`git branch -f ${ib} ${integrationSha}\`) or add your commits on top of it, then ${l.again}`,
    };
  const missing = await missingTasks(repo, missionId, tip, l.input.tasks);
  if (missing.length > 0)
    return {
      status: 'failed',
      reason: 'missing-tasks',
      missing,
      message: `the work of ${missing.map((id) => `task ${id}`).join(', ')} is not in ${ib} (its branch is not merged there, by commit or by content), though the mission reports ${missing.length === 1 ? 'it' : 'them'} merged; nothing was changed. Check ${missing.map((id) => l.input.tasks.find((t) => t.id === id)!.branch).join(', ')} against ${ib}`,
    };
  if (baseTip && (await isAncestor(repo, tip, baseTip)))
    return landed(l, { landed: baseTip, baseBefore: baseTip, alreadyLanded: true });
  return { tip, handMade };
}

/**
 * The commit to land: the integration tip, or (the base moved) a merge of the base into it made
 * without a worktree; verified in Flotilla's own worktree when it is not what the mission itself
 * verified. A conflict or a failing verify is a result with the commands that fix it.
 */
async function candidate(
  l: Landing,
  tip: string,
  handMade: boolean,
  baseTip: string | null,
): Promise<{ landing: string; baseMerged: boolean; verified: boolean } | LandResult> {
  const { input, remote } = l;
  const { missionId, baseBranch: base, integrationBranch: ib } = input;
  let landing = tip;
  const baseMerged = !!baseTip && !(await isAncestor(input.repo, baseTip, tip));
  const moved = input.mode === 'ff' ? base : `${remote}/${base}`;
  if (baseMerged) {
    const message = `flotilla: merge ${moved} into ${ib} to land mission ${missionId}`;
    const m = await mergeWithoutWorktree(input.repo, tip, baseTip!, message, input.date);
    if (m.status === 'conflict') {
      const advice = await fixAdvice(input, { kind: 'conflict', files: m.files, mergeBase: true, remote }, l.rerun);
      return {
        status: 'needs-human',
        reason: 'conflict',
        files: m.files,
        message: `${moved} changed since mission ${missionId} started, and merging it into ${ib} conflicts in ${m.files.join(', ')}; nothing was changed. ${advice}`,
      };
    }
    landing = m.sha;
  }
  if (!(baseMerged || handMade) || input.verify.length === 0) return { landing, baseMerged, verified: false };
  const v = await verifyInOwnWorktree(input, landing, l.opts, l.again);
  if ('status' in v) return v;
  if (v.ok) return { landing, baseMerged, verified: true };
  const f = v.failed!;
  const fix = { kind: 'verify' as const, failedCommand: f.command, mergeBase: baseMerged, remote };
  return {
    status: 'failed',
    reason: 'verify-failed',
    verify: f,
    message:
      `the mission verify failed on ${short(landing)} (${baseMerged ? `${ib} with ${base}'s new commits merged in` : `${ib} with the commits added since the mission ended`}); nothing was landed.\n` +
      `\`${f.command}\` ${f.timedOut ? 'timed out' : `exited ${f.exitCode}`}:\n${f.outputTail.trimEnd()}\n` +
      (await fixAdvice(input, fix, l.rerun)),
  };
}

/** Puts `c.landing` where the mode says: the local base, the remote's base, or a pull request. */
async function deliver(
  l: Landing,
  c: { landing: string; baseMerged: boolean; verified: boolean },
  baseTip: string | null,
): Promise<LandResult> {
  const { repo, missionId, baseBranch: base, integrationBranch: ib, mode } = l.input;
  const { landing } = c;
  if (mode === 'ff') {
    const ff = await fastForwardBase(repo, base, baseTip!, landing, missionId, `then ${l.again}`);
    if (!('ok' in ff)) return ff;
    return landed(l, { ...c, landed: landing, baseBefore: baseTip, checkout: ff.checkout });
  }
  // push: the base on the remote. pr: the integration branch (at the landing commit, the moved
  // base merged in) goes to the remote, and a pull request into the base, for reviewers to merge.
  const branch = mode === 'push' ? base : ib;
  const expected = mode === 'push' ? baseTip : await fetchRemoteTip(repo, l.remote!, ib, missionId);
  const refused = await pushLeased(repo, l.remote!, landing, branch, expected);
  if (refused)
    return {
      status: 'failed',
      reason: 'push-rejected',
      message: `${l.remote} refused the push of ${short(landing)} to ${branch}${mode === 'push' ? ' (it may have moved since it was read)' : ''}; nothing was overwritten. git said:\n${refused}\nThen ${l.again}`,
    };
  const pr = mode === 'pr' ? await openPullRequest(l.input, { ...c, landed: landing }, l.opts.home) : undefined;
  return landed(l, { ...c, landed: landing, baseBefore: baseTip, pushed: [branch], pr });
}
