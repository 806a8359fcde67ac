/**
 * Landing a mission: putting the integration branch's verified merges on the base branch, by a
 * fast-forward of the local base (`ff`), a push to a remote's base (`push`), or a pushed branch
 * and a pull request (`pr`). The same code runs for `flotilla land` (called directly by the CLI,
 * on the host that holds the repository) and for the `landMission` activity (a mission whose
 * `land:` field asks for it).
 *
 * Nothing lands unchecked: every merged task's work must be in the integration branch, and when
 * the base branch moved since the mission started, the base is merged into a candidate commit
 * (without a worktree) and the mission verify runs on that candidate before anything moves.
 * The user's checkout is touched only by `git merge --ff-only`, and only when its tracked files
 * are unmodified. Outcomes a person must act on are results (`needs-human`, `failed`), with a
 * message that says what happened, why, and what to do; errors are git failing unexpectedly.
 */
import execa from 'execa';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Diffstat } from '../mission/progress';
import type { CommandLine, LandMode, Runtime } from '../mission/types';
import type { ActivityConfig } from './config';
import { ChecksResult, CommandProgress, heartbeating, runCommands } from './checks';
import { git, gitRun, isAncestor, listWorktrees, resolveRef, withRepoLock } from './git';
import { displayCommand } from './process';
import { privateFile, secretRedactor } from './secrets';

/** How a mission lands (the mission file's `land:` without `none`). */
export type LandingMode = Exclude<LandMode, 'none'>;

/** A merged task, as landing checks it and the pull request describes it. */
export interface LandTask {
  id: string;
  title: string;
  /** The task branch, short name (`flotilla/<mission>/tasks/<task>`). */
  branch: string;
  /** For the description: the agent that did the work, what it cost (USD) and what it changed. */
  runtime?: Runtime;
  model?: string;
  costUsd?: number;
  diffstat?: Diffstat | null;
}

/**
 * What the pull request description shows besides the tasks. The resolver's decisions and the
 * verify history come from the mission's progress when its workflow records them (their shape is
 * the workflow's; each entry is shown as its fields).
 */
export interface LandNotes {
  /** Tasks that ended unmerged (a `--partial` landing), with their status. */
  notMerged?: Array<{ id: string; title: string; status: string }>;
  conflicts?: unknown[];
  verifyRuns?: unknown[];
}

/** The input of {@link landMission} and of the `landMission` activity. Every SHA is a full hex id. */
export interface LandMissionInput {
  missionId: string;
  /** Absolute path of the repository (on the host that runs the landing). */
  repo: string;
  baseBranch: string;
  /** The base branch's SHA when the mission started (progress `baseSha`). */
  baseSha: string;
  /** Short name, `flotilla/<mission>/integration`. */
  integrationBranch: string;
  /** The integration branch's SHA the mission ended with (progress `integrationSha`). */
  integrationSha: string;
  /** The merged tasks (all of them for a completed mission). */
  tasks: LandTask[];
  /** The mission verify, run on a candidate that merges a moved base (empty: none). */
  verify: CommandLine[];
  /** Limit for each verify (and setup) command, ms. */
  verifyTimeoutMs: number;
  /** The integration worktree, where the verify runs (re-created detached there when it is gone). */
  integrationWorktree: string;
  /** The mission's `setup`, run only in an integration worktree the landing had to re-create. */
  setup?: CommandLine[];
  /** Names of the worker's variables the verify commands get besides the baseline (the mission's `env:`). */
  env?: string[];
  /** Every secret name the mission lists; the worker's redaction boundary learns them (see CommandNames). */
  redact?: string[];
  mode: LandingMode;
  /** `push`/`pr`: the remote; default the base branch's configured remote, else `origin`. */
  remote?: string;
  /**
   * Author and committer date of a candidate merge commit (ISO-8601; the workflow passes workflow
   * time so a retried activity makes the same commit). Default: now.
   */
  date?: string;
  notes?: LandNotes;
}

/** The pull request of a `pr` landing. */
export interface LandPr {
  /** The Markdown description, under `$FLOTILLA_HOME/land/<mission>/`. */
  descriptionFile: string;
  /** The `gh pr create` argv (run, or to run when `gh` is not on PATH). */
  command: string[];
  /** Whether `gh` created it (false: not on PATH, or it failed: see `error`). */
  created: boolean;
  /** What `gh` printed: the pull request's URL. */
  url: string | null;
  error: string | null;
}

export type LandResult =
  | {
      status: 'landed';
      /** The commit the base branch (or the pushed branch) now holds. */
      landed: string;
      mode: LandingMode;
      base: string;
      /** The base branch's tip before (local for `ff`, the remote's for `push`/`pr`; null: it had none). */
      baseBefore: string | null;
      /** The base had moved: `landed` is a candidate that merges it (verified when `verified`). */
      baseMerged: boolean;
      /** The mission verify ran on `landed` (and passed). */
      verified: boolean;
      /** The base already contained the mission's work: nothing moved. */
      alreadyLanded: boolean;
      /** `ff`: the worktree whose checkout was fast-forwarded, or null (the ref alone moved). */
      checkout: string | null;
      remote: string | null;
      /** `push`/`pr`: the remote branches pushed (short names). */
      pushed: string[];
      pr: LandPr | null;
      /** The merged task ids landed. */
      tasks: string[];
    }
  | {
      /** A person must act (a conflict with the moved base, a checkout with changes): exit 3. */
      status: 'needs-human';
      reason: 'conflict' | 'dirty-checkout' | 'checkout-refused';
      message: string;
      files: string[];
    }
  | {
      /** It cannot land as it is: exit 1. */
      status: 'failed';
      reason:
        | 'missing-tasks'
        | 'verify-failed'
        | 'base-missing'
        | 'base-moved'
        | 'integration-missing'
        | 'integration-rewritten'
        | 'push-rejected';
      message: string;
      /** `missing-tasks`: the tasks whose work is not in the integration branch. */
      missing?: string[];
      /** `verify-failed`: the command and the tail of its output. */
      verify?: ChecksResult['failed'];
    };

type Failed = Extract<LandResult, { status: 'failed' }>;
type NeedsHuman = Extract<LandResult, { status: 'needs-human' }>;

/** What {@link landMission} needs from where it runs. */
export interface LandOptions {
  /** `$FLOTILLA_HOME`: the verify log and the pull request description go under it. */
  home: string;
  /** Called about every second while a setup or verify command runs (an activity heartbeats it). */
  onProgress?: (p: CommandProgress) => void;
}

const short = (sha: string | null): string => (sha ? sha.slice(0, 8) : '(none)');
const lines = (out: string): string[] =>
  out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
/** git never asks for credentials on a terminal that nobody watches (a worker, a test). */
const NO_PROMPT = { GIT_TERMINAL_PROMPT: '0' };

/**
 * The merged tasks whose work is not in `tip`: neither the task branch's tip is an ancestor of
 * it, nor are all its commits there by patch (`git cherry`: a `+` line is a commit whose change
 * is missing). A task branch that is gone is looked up in its archive ref (`flotilla clean`).
 * @returns the ids of the missing tasks, in input order
 * @throws GitError when git fails
 */
export async function missingTasks(
  repo: string,
  missionId: string,
  tip: string,
  tasks: Array<Pick<LandTask, 'id' | 'branch'>>,
): Promise<string[]> {
  const missing: string[] = [];
  for (const t of tasks) {
    const branchTip =
      (await resolveRef(repo, `refs/heads/${t.branch}`)) ??
      (await resolveRef(repo, archiveRef(missionId, t.branch.split('/').pop()!)));
    if (!branchTip) {
      missing.push(t.id);
      continue;
    }
    if (await isAncestor(repo, branchTip, tip)) continue;
    if (!(await notInByPatch(repo, tip, branchTip))) continue;
    missing.push(t.id);
  }
  return missing;
}

/**
 * True when `head` has commits (since its merge base with `upstream`) whose change `upstream`
 * does not hold by patch id (`git cherry upstream head` prints them with `+`).
 * @throws GitError when git fails
 */
export async function notInByPatch(repo: string, upstream: string, head: string): Promise<boolean> {
  const out = await git(repo, ['cherry', upstream, head]);
  return lines(out).some((l) => l.startsWith('+'));
}

/** The ref `flotilla clean` records a deleted branch's tip under: `refs/flotilla/archive/<mission>/<leaf>`. */
export function archiveRef(missionId: string, leaf: string): string {
  return `refs/flotilla/archive/${missionId}/${leaf}`;
}

/**
 * Merges `theirs` (the moved base) into `ours` (the integration tip) without a worktree:
 * `git merge-tree --write-tree`, then `git commit-tree` with parents `ours`, `theirs`.
 * @returns the merge commit, or the conflicting paths
 * @throws GitError when git fails otherwise
 */
export async function mergeWithoutWorktree(
  repo: string,
  ours: string,
  theirs: string,
  message: string,
  date?: string,
): Promise<{ status: 'merged'; sha: string } | { status: 'conflict'; files: string[] }> {
  // Exit 1 is "conflicts" (stdout: the tree, then the conflicted paths); anything else failed.
  const r = await execa('git', ['merge-tree', '--write-tree', '--name-only', '--no-messages', ours, theirs], {
    cwd: repo,
    reject: false,
    stdin: 'ignore',
  });
  if (r.exitCode === 1) return { status: 'conflict', files: [...new Set(lines(r.stdout).slice(1))] };
  if (r.exitCode !== 0) throw new Error(`git merge-tree failed in ${repo}: ${r.stderr || r.stdout}`);
  const tree = lines(r.stdout)[0];
  const env = date ? { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } : undefined;
  const sha = (
    await git(repo, ['commit-tree', tree, '-p', ours, '-p', theirs, '-m', message], { identity: true, env })
  ).trim();
  return { status: 'merged', sha };
}

/**
 * The worktree that has `branch` checked out, or null.
 * @throws GitError when git fails
 */
export async function checkoutOf(repo: string, branch: string): Promise<string | null> {
  return (await listWorktrees(repo)).find((w) => w.branch === branch && !w.prunable)?.path ?? null;
}

/**
 * Moves the local branch `base` from `from` to `to` (a descendant). Not checked out anywhere:
 * `git update-ref` with compare-and-swap. Checked out in a worktree (the user's own checkout):
 * only when its tracked files are unmodified, by `git merge --ff-only` there, which updates the
 * files the landing changes and nothing else (untracked files stay; git refuses rather than
 * overwrite one).
 * @returns the worktree fast-forwarded (null: the ref alone moved), or why it did not move
 * @throws GitError when git fails unexpectedly
 */
export async function fastForwardBase(
  repo: string,
  base: string,
  from: string,
  to: string,
  missionId: string,
): Promise<{ ok: true; checkout: string | null } | Failed | NeedsHuman> {
  const again = `then run \`flotilla land ${missionId}\` again`;
  const wt = await checkoutOf(repo, base);
  if (!wt) {
    const r = await gitRun(repo, ['update-ref', '-m', `flotilla land ${missionId}`, `refs/heads/${base}`, to, from]);
    if (r.exitCode !== 0)
      return {
        status: 'failed',
        reason: 'base-moved',
        message: `${base} moved while mission ${missionId} was landing (it no longer points at ${short(from)}); nothing was changed: ${again}`,
      };
    return { ok: true, checkout: null };
  }
  // Staged or modified tracked files: a fast-forward would have to merge them. Untracked files
  // are the user's and stay as they are.
  const files = changedTrackedFiles(await git(wt, ['status', '--porcelain', '-z', '--untracked-files=no']));
  if (files.length > 0) {
    return {
      status: 'needs-human',
      reason: 'dirty-checkout',
      files,
      message:
        `${base} is checked out in ${wt} with uncommitted changes to tracked files (${files.join(', ')}), ` +
        `so mission ${missionId} cannot fast-forward it without touching your work; nothing was changed. ` +
        `Commit or stash them (\`git -C ${wt} stash\`), ${again}; or land elsewhere with \`flotilla land ${missionId} --push REMOTE\``,
    };
  }
  const head = await resolveRef(wt, 'HEAD');
  if (head !== from)
    return {
      status: 'failed',
      reason: 'base-moved',
      message: `${base} moved while mission ${missionId} was landing (${wt} is at ${short(head ?? null)}, not ${short(from)}); nothing was changed: ${again}`,
    };
  const r = await gitRun(wt, ['merge', '--ff-only', '--quiet', to]);
  if (r.exitCode !== 0) {
    return {
      status: 'needs-human',
      reason: 'checkout-refused',
      files: [],
      message: `git refused to fast-forward ${base} in ${wt} to ${short(to)}; nothing was changed. git said:\n${r.output.trim()}\nMove what it names out of the way, ${again}`,
    };
  }
  return { ok: true, checkout: wt };
}

/** The paths of `git status --porcelain -z` entries (a rename's source, which follows it, skipped). */
function changedTrackedFiles(out: string): string[] {
  const entries = out.split('\0').filter(Boolean);
  const files: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    files.push(entries[i].slice(3));
    if (/^[RC]/.test(entries[i])) i++;
  }
  return files;
}

/** The remote a `push` landing goes to when none is given: the base's configured remote, else `origin`. */
export async function defaultRemote(repo: string, base: string): Promise<string> {
  const configured = (await git(repo, ['config', '--get', `branch.${base}.remote`]).catch(() => '')).trim();
  return configured && configured !== '.' ? configured : 'origin';
}

/**
 * The remote's tip of `branch`, fetched (objects and all) into a temporary ref so a merge can
 * use it; null when the remote has no such branch.
 * @throws GitError when the remote cannot be reached
 */
async function fetchRemoteTip(repo: string, remote: string, branch: string, missionId: string): Promise<string | null> {
  const listed = await git(repo, ['ls-remote', '--heads', remote, `refs/heads/${branch}`], { env: NO_PROMPT });
  const sha = lines(listed)
    .find((l) => l.endsWith(`\trefs/heads/${branch}`))
    ?.split('\t')[0];
  if (!sha) return null;
  // A private ref, not FETCH_HEAD or remote-tracking branches: landing changes nothing of the user's.
  const tmp = `refs/flotilla/fetched/${missionId}`;
  await git(repo, ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', remote, `+refs/heads/${branch}:${tmp}`], {
    env: NO_PROMPT,
  });
  const fetched = (await resolveRef(repo, tmp))!;
  await git(repo, ['update-ref', '-d', tmp]);
  return fetched;
}

/**
 * Pushes `sha` to `remote`'s `branch`, leased on what the remote held (`expected`, null: no
 * branch), so a push that happened meanwhile is never overwritten.
 * @returns null when pushed, else git's output
 */
async function pushLeased(
  repo: string,
  remote: string,
  sha: string,
  branch: string,
  expected: string | null,
): Promise<string | null> {
  const r = await execa(
    'git',
    [
      'push',
      '--porcelain',
      `--force-with-lease=refs/heads/${branch}:${expected ?? ''}`,
      remote,
      `${sha}:refs/heads/${branch}`,
    ],
    { cwd: repo, reject: false, stdin: 'ignore', all: true, env: NO_PROMPT },
  );
  return r.exitCode === 0 ? null : (r.all ?? '').trim();
}

/** `gh` on PATH, or undefined. */
function findOnPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, program))) return path.join(dir, program);
  }
  return undefined;
}

/** A Markdown table cell: pipes and newlines would break the table. */
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

/** One entry of a workflow-recorded list (resolver decisions, verify runs) as `key: value; …`. */
function describeEntry(entry: unknown): string {
  if (entry === null || typeof entry !== 'object') return String(entry);
  return Object.entries(entry as Record<string, unknown>)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join('; ');
}

/**
 * The pull request's title and Markdown description: the mission, a table of its merged tasks
 * (id, title, agent, cost, files changed), the verify commands, how the base was merged, and the
 * resolver's decisions and verify runs when the notes carry them.
 */
export function prDescription(
  input: Pick<
    LandMissionInput,
    'missionId' | 'baseBranch' | 'baseSha' | 'integrationBranch' | 'tasks' | 'verify' | 'notes'
  >,
  landing: { landed: string; baseMerged: boolean; verified: boolean },
): { title: string; body: string } {
  const n = input.tasks.length;
  const title = `Flotilla mission ${input.missionId}: ${n} task${n === 1 ? '' : 's'}`;
  const out: string[] = [
    `Mission \`${input.missionId}\`: ${n} task${n === 1 ? '' : 's'} merged on \`${input.integrationBranch}\`, from \`${input.baseBranch}\` at ${short(input.baseSha)}.`,
    '',
    '| task | title | agent | cost | files changed |',
    '| --- | --- | --- | ---: | ---: |',
  ];
  for (const t of input.tasks) {
    const agent = t.runtime ? `${t.runtime}${t.model ? ` (${t.model})` : ''}` : '';
    const cost = t.costUsd !== undefined ? `$${t.costUsd.toFixed(2)}` : '';
    const files = t.diffstat ? `${t.diffstat.files} (+${t.diffstat.insertions} −${t.diffstat.deletions})` : '';
    out.push(`| \`${cell(t.id)}\` | ${cell(t.title)} | ${cell(agent)} | ${cost} | ${files} |`);
  }
  if (input.notes?.notMerged?.length) {
    out.push('', 'Not merged (not part of this change):', '');
    for (const t of input.notes.notMerged) out.push(`- \`${t.id}\` ${t.title}: ${t.status}`);
  }
  out.push('', '### Verify', '');
  if (input.verify.length === 0) out.push('The mission has no verify commands.');
  else for (const c of input.verify) out.push(`- \`${displayCommand(c)}\``);
  if (landing.baseMerged)
    out.push(
      '',
      `\`${input.baseBranch}\` had moved since the mission started: ${short(landing.landed)} merges it${landing.verified ? ', and the verify passed there' : ''}.`,
    );
  if (input.notes?.conflicts?.length) {
    out.push('', '### Merge conflicts and how they were resolved', '');
    for (const c of input.notes.conflicts) out.push(`- ${describeEntry(c)}`);
  }
  if (input.notes?.verifyRuns?.length) {
    out.push('', '### Verify runs', '');
    for (const v of input.notes.verifyRuns) out.push(`- ${describeEntry(v)}`);
  }
  out.push('', `_Opened by \`flotilla land ${input.missionId} --pr\`._`);
  return { title, body: out.join('\n') + '\n' };
}

/**
 * Runs the mission verify on `sha` in the integration worktree, checked out detached there with
 * `--force` (it is Flotilla's own), then puts the worktree back where it was (its branch, or the
 * commit it was detached at). A worktree that is gone is re-created detached at `sha`, and the
 * mission's `setup` runs in it first.
 * @throws GitError when git fails
 */
async function verifyAt(input: LandMissionInput, sha: string, opts: LandOptions): Promise<ChecksResult> {
  const wt = input.integrationWorktree;
  const logFile = path.join(opts.home, 'runs', input.missionId, 'land.verify.log');
  const before = await withRepoLock(input.repo, async () => {
    if (!existsSync(path.join(wt, '.git'))) {
      await git(input.repo, ['worktree', 'prune']);
      mkdirSync(path.dirname(wt), { recursive: true });
      await git(input.repo, ['worktree', 'add', '--quiet', '--detach', wt, sha]);
      return null;
    }
    const branch = (await git(wt, ['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
    const head = (await git(wt, ['rev-parse', 'HEAD'])).trim();
    await git(wt, ['checkout', '--quiet', '--detach', '--force', sha]);
    return { branch, head };
  });
  try {
    const setup = before === null ? (input.setup ?? []) : [];
    for (const commands of [setup, input.verify]) {
      if (commands.length === 0) continue;
      const r = await runCommands(
        { cwd: wt, commands, timeoutMs: input.verifyTimeoutMs, logFile, env: input.env, redact: input.redact },
        opts.onProgress,
      );
      if (!r.ok) return r;
    }
    return { ok: true, failed: null };
  } finally {
    if (before)
      await withRepoLock(input.repo, () =>
        gitRun(wt, [
          'checkout',
          '--quiet',
          '--force',
          ...(before.branch ? [before.branch] : ['--detach', before.head]),
        ]),
      );
  }
}

/**
 * Lands the mission (see the file's comment): checks the merged tasks are in the integration
 * branch, merges a moved base into a verified candidate, then fast-forwards, pushes, or pushes
 * the integration branch and opens a pull request. Idempotent: when the base already contains
 * the mission's work it reports `alreadyLanded` and changes nothing, so a retried activity whose
 * first attempt landed finishes exactly once.
 *
 * The integration branch may have gained commits since the mission ended (a person merged the
 * moved base into it after a conflict): then what lands is its current tip, verified first.
 * @throws GitError when git fails unexpectedly (the remote cannot be reached, a corrupt repository)
 */
export async function landMission(input: LandMissionInput, opts: LandOptions): Promise<LandResult> {
  const { repo, missionId, baseBranch: base, integrationBranch: ib, mode } = input;
  const again = `run \`flotilla land ${missionId}\` again`;
  const remote = mode === 'ff' ? null : (input.remote ?? (await defaultRemote(repo, base)));

  // What the base holds now: the local branch for ff, the remote's for push and pr.
  let baseTip: string | null;
  if (mode === 'ff') {
    baseTip = (await resolveRef(repo, `refs/heads/${base}`)) ?? null;
    if (!baseTip)
      return {
        status: 'failed',
        reason: 'base-missing',
        message: `the base branch ${base} does not exist in ${repo} any more, so there is nothing to fast-forward; land with \`flotilla land ${missionId} --push REMOTE\`, or create ${base} again`,
      };
  } else {
    baseTip = await fetchRemoteTip(repo, remote!, base, missionId);
    if (!baseTip && mode === 'pr')
      return {
        status: 'failed',
        reason: 'base-missing',
        message: `${remote} has no branch ${base} for a pull request to go to; push it first (\`git push ${remote} ${base}\`), then ${again}`,
      };
  }

  const tip = await resolveRef(repo, `refs/heads/${ib}`);
  if (!tip) {
    // `flotilla clean` deletes the integration branch only once it landed.
    if (baseTip && (await isAncestor(repo, input.integrationSha, baseTip)))
      return landed({ landed: baseTip, baseBefore: baseTip, alreadyLanded: true });
    return {
      status: 'failed',
      reason: 'integration-missing',
      message: `the integration branch ${ib} is gone from ${repo}, so mission ${missionId} has nothing to land; it ended at ${input.integrationSha}: recreate it with \`git branch ${ib} ${input.integrationSha}\` if that commit still exists, then ${again}`,
    };
  }
  const handMade = tip !== input.integrationSha;
  if (handMade && !(await isAncestor(repo, input.integrationSha, tip)))
    return {
      status: 'failed',
      reason: 'integration-rewritten',
      message: `${ib} no longer contains the commit mission ${missionId} ended with (${short(input.integrationSha)}): its history was rewritten since, and landing it could drop verified merges. Put it back (\`git branch -f ${ib} ${input.integrationSha}\`) or add your commits on top of it, then ${again}`,
    };

  const missing = await missingTasks(repo, missionId, tip, input.tasks);
  if (missing.length > 0)
    return {
      status: 'failed',
      reason: 'missing-tasks',
      missing,
      message: `the work of ${missing.map((id) => `task ${id}`).join(', ')} is not in ${ib} (its branch is not merged there, by commit or by patch), though the mission reports ${missing.length === 1 ? 'it' : 'them'} merged; nothing was changed. Check ${missing.map((id) => input.tasks.find((t) => t.id === id)!.branch).join(', ')} against ${ib}`,
    };

  if (baseTip && (await isAncestor(repo, tip, baseTip)))
    return landed({ landed: baseTip, baseBefore: baseTip, alreadyLanded: true });

  // The base moved since the mission started: land a merge of it, and only once the verify passed.
  let landing = tip;
  const baseMerged = !!baseTip && !(await isAncestor(repo, baseTip, tip));
  if (baseMerged) {
    const m = await mergeWithoutWorktree(
      repo,
      tip,
      baseTip!,
      `flotilla: merge ${mode === 'ff' ? base : `${remote}/${base}`} into ${ib} to land mission ${missionId}`,
      input.date,
    );
    if (m.status === 'conflict') {
      const wt = input.integrationWorktree;
      const mergeIt = mode === 'ff' ? `git -C ${wt} merge ${base}` : `git -C ${wt} pull --no-rebase ${remote} ${base}`;
      return {
        status: 'needs-human',
        reason: 'conflict',
        files: m.files,
        message:
          `${mode === 'ff' ? base : `${remote}/${base}`} changed since mission ${missionId} started, and merging it into ${ib} conflicts in ${m.files.join(', ')}; nothing was changed. ` +
          `Merge it yourself: \`${mergeIt}\`, resolve the conflicts and commit on ${ib}, then ${again} (it runs the mission verify on your merge before landing it)`,
      };
    }
    landing = m.sha;
  }
  let verified = false;
  if ((baseMerged || handMade) && input.verify.length > 0) {
    const v = await verifyAt(input, landing, opts);
    if (!v.ok) {
      const f = v.failed!;
      return {
        status: 'failed',
        reason: 'verify-failed',
        verify: f,
        message:
          `the mission verify failed on ${short(landing)} (${baseMerged ? `${ib} with ${base}'s new commits merged in` : `${ib} with the commits added since the mission ended`}); nothing was landed.\n` +
          `\`${f.command}\` ${f.timedOut ? 'timed out' : `exited ${f.exitCode}`}:\n${f.outputTail.trimEnd()}\n` +
          `Fix it on ${ib} (in ${input.integrationWorktree}), then ${again}`,
      };
    }
    verified = true;
  }

  if (mode === 'ff') {
    const ff = await fastForwardBase(repo, base, baseTip!, landing, missionId);
    if (!('ok' in ff)) return ff;
    return landed({ landed: landing, baseBefore: baseTip, baseMerged, verified, checkout: ff.checkout });
  }

  if (mode === 'push') {
    const refused = await pushLeased(repo, remote!, landing, base, baseTip);
    if (refused)
      return {
        status: 'failed',
        reason: 'push-rejected',
        message: `${remote} refused the push of ${short(landing)} to ${base} (it may have moved since it was read); nothing was overwritten. git said:\n${refused}\nThen ${again}`,
      };
    return landed({ landed: landing, baseBefore: baseTip, baseMerged, verified, pushed: [base] });
  }

  // pr: the integration branch (at the landing commit, the moved base merged in) goes to the
  // remote, and a pull request into the base; the base itself is the reviewers' to merge.
  const remoteIb = await fetchRemoteTip(repo, remote!, ib, missionId);
  const refused = await pushLeased(repo, remote!, landing, ib, remoteIb);
  if (refused)
    return {
      status: 'failed',
      reason: 'push-rejected',
      message: `${remote} refused the push of ${short(landing)} to ${ib}; nothing was overwritten. git said:\n${refused}\nThen ${again}`,
    };
  const { title, body } = prDescription(input, { landed: landing, baseMerged, verified });
  const descriptionFile = path.join(opts.home, 'land', missionId, 'pr-description.md');
  writeFileSync(privateFile(descriptionFile), secretRedactor().text(body));
  const command = [
    'gh',
    'pr',
    'create',
    '--base',
    base,
    '--head',
    ib,
    '--title',
    title,
    '--body-file',
    descriptionFile,
  ];
  const pr: LandPr = { descriptionFile, command, created: false, url: null, error: null };
  const gh = findOnPath('gh');
  if (gh) {
    const r = await execa(gh, command.slice(1), {
      cwd: repo,
      reject: false,
      stdin: 'ignore',
      all: true,
      env: { GH_PROMPT_DISABLED: '1' },
    });
    if (r.exitCode === 0) {
      pr.created = true;
      pr.url = lines(r.stdout).pop() ?? null;
    } else pr.error = (r.all ?? '').trim() || `gh exited ${r.exitCode}`;
  }
  return landed({ landed: landing, baseBefore: baseTip, baseMerged, verified, pushed: [ib], pr });

  function landed(r: {
    landed: string;
    baseBefore: string | null;
    alreadyLanded?: boolean;
    baseMerged?: boolean;
    verified?: boolean;
    checkout?: string | null;
    pushed?: string[];
    pr?: LandPr;
  }): LandResult {
    return {
      status: 'landed',
      landed: r.landed,
      mode,
      base,
      baseBefore: r.baseBefore,
      baseMerged: r.baseMerged ?? false,
      verified: r.verified ?? false,
      alreadyLanded: r.alreadyLanded ?? false,
      checkout: r.checkout ?? null,
      remote,
      pushed: r.pushed ?? [],
      pr: r.pr ?? null,
      tasks: input.tasks.map((t) => t.id),
    };
  }
}

export function createLandActivities(config: ActivityConfig) {
  return {
    /**
     * Lands a mission that ended (its `land:` field): see {@link landMission}. A landing a person
     * must act on is a result (`needs-human`, `failed`), not an error. Runs on the host's queue;
     * heartbeats every 5 s (with `{ command }` while a verify command runs).
     * @throws GitError when git fails unexpectedly (retryable: a retry that finds the mission
     *   landed reports `alreadyLanded`)
     */
    async landMission(input: LandMissionInput): Promise<LandResult> {
      return heartbeating((beat) => landMission(input, { home: config.home, onProgress: (p) => beat(p) }));
    },
  };
}
