/**
 * Merge conflicts resolved by an agent, the git of `onMergeConflict: resolve` (the activities of
 * the same names run it, src/activities/conflict.ts):
 * - `prepareConflict` sets the conflicting merge up in a worktree of its own
 *   (`<task worktree>.conflict`, detached at the candidate, `git merge --no-commit` in progress
 *   with diff3 markers, rerere replaying resolutions recorded before);
 * - the workflow runs the resolver with `runAgent` (`role: 'resolver'`) in that worktree;
 * - `checkResolution` checks the result without trusting the resolver: no markers left, nothing
 *   outside the conflicted files changed, and what each side added outside the conflicting hunks
 *   still there;
 * - `commitResolution` commits the merge (rerere records the resolution), publishes it to the
 *   candidate ref with compare-and-swap and removes the worktree; `dropConflict` gives up on it.
 *
 * The shapes are in merge-queue-types.ts (recorded in histories); the checks are
 * conflict-check.ts, the git underneath conflict-git.ts. Every git command is an argv, with paths
 * taken literally (`literal: true`, git.ts): file names never become pathspec magic.
 */
import { HostFailure } from './failure';
import { hostLog } from './log';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ErrorType } from '../mission/error-types';
import { CommandRunOptions, runCommands } from '../agents/commands';
import { withNamespace } from '../agents/namespace';
import { conflictingTasks } from './conflict-tasks';
import {
  assertConflictWorktree,
  gitDirOf,
  list,
  mergeTree,
  publishedResolution,
  RERERE,
  removeConflictWorktree,
  short,
  unique,
  unmergedPaths,
  writeBaseline,
} from './conflict-git';
import { git, gitResult, identityConfig, resolveRef } from './git';
import { removeStaleRefLock, withRepoLock } from './repo-lock';
import { removeStaleLocks } from './git-locks';
import { publishToOrigin } from './merge-queue';
import type {
  CommitResolutionInput,
  CommitResolutionResult,
  DropConflictInput,
  PrepareConflictInput,
  PrepareConflictResult,
} from './merge-queue-types';
import { copyMissionFiles } from './provision';
import { conflictStateDir, conflictWorktreePath } from './worktree-layout';

/** The longest `oursDiff` / `theirsDiff` handed to the resolver's prompt, characters (note included). */
export const MAX_SIDE_DIFF_CHARS = 12_000;
/** The longest `mergedLog`, lines. */
const MAX_LOG_LINES = 100;

/** `text` cut to at most `max` characters, ending with a note that says so and how to see the rest. */
export function cutText(text: string, max: number, rest: string): string {
  if (text.length <= max) return text;
  const note = `\n[… cut: ${text.length} characters in all, the first shown; see the rest with ${rest}]\n`;
  return text.slice(0, Math.max(0, max - note.length)) + note;
}

/**
 * Sets the merge of `input.branch` onto `input.onto` up in the task's conflict worktree
 * (`<task worktree>.conflict` under `home`, see worktree-layout.ts) for a resolver: an existing one
 * (a crashed or earlier attempt) is removed and rebuilt; then `git worktree add --detach`, the
 * mission's `copy` files, `setup` (log in `runs/<m>/<task>/conflict-<runKey>/setup.log`), and
 * `git merge --no-ff --no-commit` with diff3 markers and rerere (`-c rerere.enabled=true` on
 * Flotilla's merge, commit and abort only, never in the repository's config: resolutions are
 * recorded when committed and replayed when the same conflict comes back). Facts for the prompt
 * come from git: `conflicted` from `git merge-tree`, `remaining` from the index's unmerged entries
 * after rerere, `otherTasks` the tasks merged on `onto` since the merge base whose lines clash
 * with the branch's (conflict-tasks.ts). `opts` hears about and cancels the setup commands.
 * @throws retryable `SetupFailed` (its output redacted); Error when the task branch is missing,
 *   already contained in `onto`, or git fails
 */
export async function prepareConflict(
  home: string,
  input: PrepareConflictInput,
  opts: CommandRunOptions = {},
): Promise<PrepareConflictResult> {
  const worktree = conflictWorktreePath(home, input.missionId, input.runId, input.taskId);
  const stateDir = conflictStateDir(home, input.missionId, input.runId, input.taskId);
  await addConflictWorktree(input, worktree);
  copyMissionFiles(input.repo, worktree, input.copy);
  if (input.setup.length > 0) {
    // Setup runs in the resolver's runtime namespace (src/agents/namespace.ts).
    const result = await withNamespace(home, input.namespace, worktree, (env) =>
      runCommands(
        {
          cwd: worktree,
          commands: input.setup,
          timeoutMs: input.setupTimeoutMs,
          logFile: path.join(stateDir, 'setup.log'),
          env: input.env,
          redact: input.redact,
          namespace: input.namespace,
        },
        { ...opts, env },
      ),
    );
    if (!result.ok) {
      const f = result.failed!;
      throw HostFailure.retryable(
        `setup failed in the conflict worktree: \`${f.command}\` exited ${f.exitCode ?? '(timeout)'}\n${f.outputTail}`,
        ErrorType.SetupFailed,
      );
    }
  }
  await writeBaseline(worktree);
  return withRepoLock(input.repo, () => startMerge(input, worktree));
}

/**
 * Adds the conflict worktree `worktree`, detached at `input.onto`, under the repository lock; one
 * left by an earlier or crashed attempt is removed first (its setup may have been cut short and
 * its files edited by a rejected resolver, so it is rebuilt rather than trusted).
 * @throws Error when the task branch does not exist; GitError
 */
async function addConflictWorktree(input: PrepareConflictInput, worktree: string): Promise<void> {
  const { repo, onto, branch } = input;
  await withRepoLock(repo, async () => {
    if (!(await resolveRef(repo, `refs/heads/${branch}`))) throw new Error(`task branch ${branch} does not exist`);
    if (await removeConflictWorktree(repo, worktree))
      hostLog.warn('removed the conflict worktree of an earlier attempt', { worktree });
    mkdirSync(path.dirname(worktree), { recursive: true });
    await git(repo, ['worktree', 'add', '--quiet', '--detach', worktree, onto]);
  });
}

/**
 * Starts `git merge --no-ff --no-commit` of the task branch in the conflict worktree (diff3
 * markers, rerere) and gathers what the resolver's prompt says about it. Run under the
 * repository lock.
 * @throws Error when the merge cannot start (the branch already contained in `onto`, git failing)
 */
async function startMerge(input: PrepareConflictInput, worktree: string): Promise<PrepareConflictResult> {
  const { repo, onto, branch } = input;
  const merge = await gitResult(
    worktree,
    [
      ...(await identityArgs(worktree)),
      '-c',
      'merge.conflictStyle=diff3',
      ...RERERE,
      '-c',
      'rerere.autoUpdate=true',
      'merge',
      '--no-ff',
      '--no-commit',
      branch,
    ],
    // The resolver sees the merge's own message in MERGE_MSG; no editor ever opens.
    { literal: true, env: { GIT_MERGE_AUTOEDIT: 'no' } },
  );
  const branchTip = await resolveRef(worktree, 'MERGE_HEAD');
  if (!branchTip || (merge.code !== 0 && merge.code !== 1)) {
    const contained = await resolveRef(repo, `refs/heads/${branch}`);
    const why =
      contained &&
      (await gitResult(repo, ['merge-base', '--is-ancestor', contained, onto], { literal: true })).code === 0
        ? `${branch} is already contained in ${short(onto)}: there is nothing to merge`
        : `git merge ${branch} failed (exit ${merge.code}): ${(merge.out + merge.err).trim().slice(-1000)}`;
    throw new Error(why);
  }
  const mergeBase = (await git(worktree, ['merge-base', onto, branchTip])).trim();
  const { conflicted } = await mergeTree(worktree, onto, branchTip);
  const diff = async (to: string): Promise<string> =>
    conflicted.length === 0
      ? ''
      : cutText(
          await git(worktree, ['diff', mergeBase, to, '--', ...conflicted], { literal: true }),
          MAX_SIDE_DIFF_CHARS,
          `\`git diff ${short(mergeBase)} ${short(to)} -- <file>\``,
        );
  return {
    worktree,
    conflicted,
    remaining: await unmergedPaths(worktree),
    mergeBase,
    branchTip,
    otherTasks: await conflictingTasks(worktree, mergeBase, onto, branchTip, conflicted),
    oursDiff: await diff(onto),
    theirsDiff: await diff(branchTip),
    mergedLog: await mergedLog(worktree, mergeBase, onto),
  };
}

/** The first-parent log of `onto` since `mergeBase`, one line per commit, at most {@link MAX_LOG_LINES}. */
async function mergedLog(worktree: string, mergeBase: string, onto: string): Promise<string> {
  const logLines = (await git(worktree, ['log', '--oneline', '--first-parent', `${mergeBase}..${onto}`]))
    .split('\n')
    .filter(Boolean);
  return [
    ...logLines.slice(0, MAX_LOG_LINES),
    ...(logLines.length > MAX_LOG_LINES ? [`[… ${logLines.length - MAX_LOG_LINES} older commits not shown]`] : []),
  ].join('\n');
}

/**
 * Gives a conflict up: aborts the merge in progress (clearing rerere's unfinished record of it)
 * and removes the conflict worktree, under the repository lock. Nothing there is anyone's work
 * but a rejected or abandoned resolution, whose transcript stays in `runs/<m>/<task>/resolver/`.
 * Idempotent: a worktree already gone is fine.
 * @throws non-retryable `WorktreeState` when `worktree` is not a conflict worktree path
 */
export async function dropConflict(input: DropConflictInput): Promise<void> {
  assertConflictWorktree(input.worktree);
  await withRepoLock(input.repo, () => removeConflictWorktree(input.repo, input.worktree));
}

/** `-c user.name=… -c user.email=…` where git has no identity in `dir` (merges may need one). */
async function identityArgs(dir: string): Promise<string[]> {
  return (await identityConfig(dir)).flatMap((c) => ['-c', c]);
}

/** The parents of commit `sha`. */
async function parentsOf(dir: string, sha: string): Promise<string[]> {
  return (await git(dir, ['rev-list', '--parents', '-n', '1', sha])).trim().split(' ').slice(1);
}

/**
 * Commits the checked resolution as the merge commit (`flotilla: merge <task>: <title>`, a line
 * naming the resolved files; `--no-verify`; author and committer date `input.date`, Flotilla's
 * identity where the repository has none), which also records the resolution for rerere; checks
 * its parents are [`onto`, `branchTip`]; publishes it with `git update-ref ref sha expected`
 * (compare-and-swap; null expected: the ref must not exist); removes the conflict worktree.
 * Idempotent: a retry reuses the merge commit in the worktree's HEAD, or finds it published on
 * `ref` (first-parent history since `onto`) after the worktree was removed.
 * @throws non-retryable `CandidateMoved` when `ref` holds neither `expected` nor the commit;
 *   non-retryable `WorktreeState` when `worktree` is no conflict worktree, the merge is not in
 *   progress there (or files stay unmerged) and no commit of it exists; non-retryable
 *   `WorktreeLost` when the worktree is gone and the resolution was never published
 */
export async function commitResolution(input: CommitResolutionInput): Promise<CommitResolutionResult> {
  assertConflictWorktree(input.worktree);
  const { repo, worktree, onto, branchTip, ref } = input;
  const present = existsSync(path.join(worktree, '.git'));
  // An attempt killed inside `git commit` left its locks; the resolver has ended (no minimum age).
  if (present) await removeStaleLocks(worktree, gitDirOf(worktree), 0);
  const head = present ? await resolveRef(worktree, 'HEAD') : undefined;
  let sha: string | null = null;

  if (head && head !== onto && (await parentsOf(worktree, head)).join(' ') === `${onto} ${branchTip}`) {
    sha = head; // committed by an attempt that died before publishing it
  } else if (present && head === onto && (await resolveRef(worktree, 'MERGE_HEAD')) === branchTip) {
    sha = await commitMerge(input);
  } else {
    sha = await publishedResolution(repo, ref, onto, branchTip);
    if (!sha && !present)
      throw HostFailure.nonRetryable(
        `the conflict worktree ${worktree} is gone and its resolution was never published to ${ref}; the merge has to be prepared and resolved again`,
        ErrorType.WorktreeLost,
      );
    if (!sha)
      throw HostFailure.nonRetryable(
        `no merge of ${short(branchTip)} onto ${short(onto)} is in progress in ${worktree} (HEAD ${short(head)}) and none is published on ${ref}; the merge has to be prepared again`,
        ErrorType.WorktreeState,
      );
    if (present) await withRepoLock(repo, () => removeConflictWorktree(repo, worktree));
    return { sha };
  }

  const parents = await parentsOf(worktree, sha);
  if (parents.join(' ') !== `${onto} ${branchTip}`)
    throw HostFailure.nonRetryable(
      `the resolution commit ${short(sha)} has parents ${parents.map(short).join(', ')}, not ${short(onto)} and ${short(branchTip)}`,
      ErrorType.WorktreeState,
    );

  await withRepoLock(repo, async (hold) => {
    const zero = '0'.repeat(onto.length);
    await removeStaleRefLock(repo, ref, hold);
    const update = await gitResult(repo, ['update-ref', ref, sha, input.expected ?? zero], { literal: true });
    if (update.code !== 0) {
      const now = await resolveRef(repo, ref);
      // Holding the commit already: an attempt that died after publishing it.
      if (now !== sha && (await publishedResolution(repo, ref, onto, branchTip)) !== sha)
        throw HostFailure.nonRetryable(
          `${ref} holds ${short(now)}, not ${input.expected ? short(input.expected) : 'nothing'} as expected: the candidate moved while the conflict was resolved; resolution ${short(sha)} was not published`,
          ErrorType.CandidateMoved,
        );
    }
    // Forced removal (see removeConflictWorktree): the resolution is committed and published.
    await removeConflictWorktree(repo, worktree);
  });
  // A clone of a shared origin: the candidate goes there too (a host taking the mission over
  // resumes the queue from the origin's candidate).
  await publishToOrigin(repo, ref, sha);
  return { sha };
}

/**
 * Stages the conflicted files (every path the merge conflicted on, and any still unmerged) and
 * commits the merge; `git commit` records the resolution for rerere.
 * @returns the merge commit
 * @throws non-retryable `WorktreeState` when files stay unmerged
 */
async function commitMerge(input: CommitResolutionInput): Promise<string> {
  const { worktree, onto, branchTip } = input;
  const files = unique([
    ...(input.conflicted ?? []),
    ...(await mergeTree(worktree, onto, branchTip)).conflicted,
    ...(await unmergedPaths(worktree)),
  ]);
  // -A: a file the resolution deleted is staged as deleted.
  if (files.length > 0) await git(worktree, ['add', '-A', '--', ...files], { literal: true });
  const still = await unmergedPaths(worktree);
  if (still.length > 0)
    throw HostFailure.nonRetryable(
      `files are still unmerged after staging the resolution: ${list(still)}`,
      ErrorType.WorktreeState,
    );
  const message = [
    `flotilla: merge ${input.taskId}: ${input.title}`,
    ...(files.length > 0 ? ['', `Conflicts resolved by the resolver agent: ${files.join(', ')}`] : []),
  ].join('\n');
  await git(
    worktree,
    [...RERERE, 'commit', '--no-verify', '--quiet', '--cleanup=verbatim', '-m', message],
    // Fixed dates and identity: the same resolution committed again makes the same SHA.
    { identity: true, literal: true, env: { GIT_AUTHOR_DATE: input.date, GIT_COMMITTER_DATE: input.date } },
  );
  return (await git(worktree, ['rev-parse', 'HEAD'])).trim();
}
