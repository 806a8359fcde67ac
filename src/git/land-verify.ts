/**
 * Where a landing runs the mission verify, and what it tells a person to do when it cannot land.
 *
 * The verify runs only in Flotilla's own integration worktree (under `$FLOTILLA_HOME/worktrees/`),
 * checked out detached at the commit to verify, and created there when it is gone. A worktree a
 * person uses (their own checkout of the integration branch, made with `git switch` or `git
 * worktree add`) is never checked out, reset, or run in: a landing reads it (is someone working
 * there?) and leaves it as it is. The advice is a list of commands that work when pasted as they
 * are: the person works on the integration branch in a worktree of it made for them (or the one
 * that already has it checked out), never in Flotilla's own.
 */
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { ChecksResult, runCommands } from '../agents/commands';
import { git, gitCommonDir, gitRun } from './git';
import { withRepoLock } from './repo-lock';
import type { LandMissionInput, LandOptions, NeedsHuman } from './land-types';
import { shellQuote as q } from '../mission/shell-quote';
import { moveAside, unfinishedAdd } from './worktree-add';
import { headAtRisk, listed, worktreeChanges } from './worktree-safety';
import { describeOperation, holdersOf, operationAdvice, operationIn } from './worktree-state';

const needsHuman = (message: string, files: string[] = []): NeedsHuman => ({
  status: 'needs-human',
  reason: 'verify-worktree',
  files,
  message,
});

/** True when `dir` is under `$FLOTILLA_HOME/worktrees/`, where only Flotilla makes worktrees. */
export function isOwnWorktreePath(home: string, dir: string): boolean {
  return path.resolve(dir).startsWith(path.join(path.resolve(home), 'worktrees') + path.sep);
}

/**
 * Checks that nobody is working on the integration branch: every worktree that uses it (checked
 * out, or rebased or bisected there) has no uncommitted change to a tracked file and no git
 * operation in progress. A landing lands only what is committed, and never touches such a
 * checkout, so work in progress there would be left out silently. Flotilla's own integration
 * worktree, when a person checked the branch out there and left nothing in progress, is detached where it is (`git checkout --detach`: no file changes), so the
 * branch is free for a person's worktree.
 * @param again how to land once it is done
 * @returns null, or what a person must do first (`integration-in-use`)
 * @throws GitError when git fails
 */
export async function integrationInUse(
  input: LandMissionInput,
  home: string,
  again: string,
): Promise<NeedsHuman | null> {
  const ib = input.integrationBranch;
  const own = path.resolve(input.integrationWorktree);
  for (const w of await holdersOf(input.repo, ib)) {
    const whose = path.resolve(w.path) === own ? "Flotilla's integration worktree " : '';
    const refuse = (what: string, todo: string, files: string[] = []): NeedsHuman => ({
      status: 'needs-human',
      reason: 'integration-in-use',
      files,
      message:
        `${ib} is checked out in ${whose}${w.path} with ${what}: mission ${input.missionId} lands only what is committed on it, ` +
        `and landing never touches that checkout; nothing was changed. ${todo}, then ${again}`,
    });
    if (w.operation)
      return refuse(`${describeOperation(w.operation)} in progress`, operationAdvice(w.operation, w.path));
    const files = (await worktreeChanges(input.repo, w.path, [], { untracked: false })).modified;
    if (files.length)
      return refuse(
        `uncommitted changes to tracked files (${listed(files)})`,
        `To land them with the mission, commit them there (\`git -C ${q(w.path)} commit -a -m 'Fix ${ib}'\`); ` +
          `to land without them, stash them (\`git -C ${q(w.path)} stash\`)`,
        files,
      );
    if (whose && isOwnWorktreePath(home, w.path) && w.branch === ib)
      await withRepoLock(input.repo, () => git(w.path, ['checkout', '--quiet', '--detach']));
  }
  return null;
}

/**
 * Makes Flotilla's own integration worktree ready to verify `sha` there, under the repository
 * lock: created detached at `sha` when it is gone (a folder there that is not a worktree of this
 * repository is moved aside, never deleted); otherwise checked out detached at `sha` without
 * `--force`, and only when doing so loses nothing (no git operation in progress, no branch other
 * than the integration branch checked out, no commit only it holds, no modified tracked file).
 * @returns whether it was created (setup must run), or what a person must do first
 * @throws Error when the path is not under `$FLOTILLA_HOME/worktrees/`; GitError when git fails
 */
async function prepareOwnWorktree(
  input: LandMissionInput,
  sha: string,
  home: string,
  again: string,
): Promise<{ created: boolean } | NeedsHuman> {
  const wt = input.integrationWorktree;
  if (!isOwnWorktreePath(home, wt))
    throw new Error(`land verifies only in Flotilla's own worktrees (under ${home}/worktrees/), not in ${wt}`);
  return withRepoLock(input.repo, async () => {
    if (existsSync(wt)) {
      // A worktree whose `git worktree add` was cut short is no place to verify: moved aside below.
      const top = unfinishedAdd(wt) ? '' : (await git(wt, ['rev-parse', '--show-toplevel']).catch(() => '')).trim();
      const common = (
        await git(wt, ['rev-parse', '--path-format=absolute', '--git-common-dir']).catch(() => '')
      ).trim();
      const sameRepo = common !== '' && realpathSync(common) === realpathSync(await gitCommonDir(input.repo));
      if (top && realpathSync(top) === realpathSync(wt) && sameRepo) {
        const why = await whyNotCheckout(input, wt);
        if (why) return needsHuman(`${why.message}; nothing was changed. ${why.todo}, then ${again}`, why.files);
        const r = await gitRun(wt, ['checkout', '--quiet', '--detach', sha]);
        if (r.exitCode !== 0)
          return needsHuman(
            `git refused to check out ${sha.slice(0, 8)} in Flotilla's integration worktree ${wt} to verify it; nothing was changed. git said:\n${r.output.trim()}\nMove what it names out of the way, then ${again}`,
          );
        return { created: false };
      }
      await moveAside(input.repo, wt);
    }
    await git(input.repo, ['worktree', 'prune']);
    mkdirSync(path.dirname(wt), { recursive: true });
    await git(input.repo, ['worktree', 'add', '--quiet', '--detach', wt, sha]);
    return { created: true };
  });
}

/** Why checking another commit out in Flotilla's own worktree `wt` could lose something, or null. */
async function whyNotCheckout(
  input: LandMissionInput,
  wt: string,
): Promise<{ message: string; todo: string; files: string[] } | null> {
  const where = `Flotilla's integration worktree ${wt}, where landing runs the mission verify,`;
  const op = operationIn(path.resolve(wt, (await git(wt, ['rev-parse', '--git-dir'])).trim()));
  if (op)
    return { message: `${where} has ${describeOperation(op)} in progress`, todo: operationAdvice(op, wt), files: [] };
  const branch = (await gitRun(wt, ['symbolic-ref', '--quiet', '--short', 'HEAD'])).output.trim();
  if (branch && branch !== input.integrationBranch)
    return {
      message: `${where} has ${branch} checked out, which landing does not move`,
      todo: `Switch it back (\`git -C ${q(wt)} checkout --detach ${q(input.integrationBranch)}\`) once ${branch} is safe elsewhere`,
      files: [],
    };
  const risk = await headAtRisk(wt);
  if (risk)
    return {
      message: `${where} holds work: ${risk}`,
      todo: `Keep it on a branch (\`git -C ${q(wt)} branch NAME\`)`,
      files: [],
    };
  const files = (await worktreeChanges(input.repo, wt, [], { untracked: false })).modified;
  if (files.length)
    return {
      message: `${where} has uncommitted changes to tracked files (${listed(files)})`,
      todo:
        `If they are yours, copy them elsewhere; if they are not (a verify that rewrites tracked files leaves them), ` +
        `discard them: \`git -C ${q(wt)} checkout --force --detach HEAD\``,
      files,
    };
  return null;
}

/**
 * Runs the mission verify on `sha` in Flotilla's own integration worktree (see
 * {@link prepareOwnWorktree}; a worktree it had to create runs the mission's `setup` first), then
 * puts back the tracked files the setup or verify changed there (`checkout --force --detach
 * HEAD`: it had none before), so the worktree stays fit for the next landing.
 * @returns the checks' result, or what a person must do first
 * @throws GitError when git fails
 */
export async function verifyInOwnWorktree(
  input: LandMissionInput,
  sha: string,
  opts: LandOptions,
  again: string,
): Promise<ChecksResult | NeedsHuman> {
  const ready = await prepareOwnWorktree(input, sha, opts.home, again);
  if ('status' in ready) return ready;
  const wt = input.integrationWorktree;
  const logFile = path.join(opts.home, 'runs', input.missionId, 'land.verify.log');
  try {
    const setup = ready.created ? (input.setup ?? []) : [];
    for (const commands of [setup, input.verify]) {
      if (commands.length === 0) continue;
      const r = await runCommands(
        { cwd: wt, commands, timeoutMs: input.verifyTimeoutMs, logFile, env: input.env, redact: input.redact },
        { signal: opts.signal, onProgress: opts.onProgress },
      );
      if (!r.ok) return r;
    }
    return { ok: true, failed: null };
  } finally {
    await withRepoLock(input.repo, () => gitRun(wt, ['checkout', '--quiet', '--force', '--detach', 'HEAD']));
  }
}

/**
 * A free folder for a person's worktree of the integration branch, beside Flotilla's integration
 * worktree: `<run folder>/integration-fix` (then `-2`, `-3`, ...). `flotilla clean` removes it
 * once the mission landed and nothing in it can be lost.
 */
export function fixWorktreePath(integrationWorktree: string): string {
  const first = path.join(path.dirname(integrationWorktree), 'integration-fix');
  let dir = first;
  for (let n = 2; existsSync(dir); n++) dir = `${first}-${n}`;
  return dir;
}

/** What a person must fix on the integration branch before it can land. */
export interface FixNeeded {
  /** `conflict`: merging the moved base conflicts in `files`; `verify`: `failedCommand` fails. */
  kind: 'conflict' | 'verify';
  files?: string[];
  failedCommand?: string;
  /** The moved base must be merged first (`git merge`, or `git pull` from the remote's base). */
  mergeBase: boolean;
  /** `push`/`pr`: the remote whose base moved; null for `ff` (the local base). */
  remote: string | null;
}

/**
 * The commands that fix the integration branch, to paste as they are: a worktree of it made for
 * the person (or the one that has it checked out already), the moved base merged there, the
 * person's part as a `#` line, the commit, and the landing run again (`rerun`). Every line is
 * indented by four spaces; paths and names are shell-quoted.
 * @throws GitError when git fails
 */
export async function fixAdvice(input: LandMissionInput, fix: FixNeeded, rerun: string): Promise<string> {
  const ib = input.integrationBranch;
  const own = path.resolve(input.integrationWorktree);
  const holder = (await holdersOf(input.repo, ib)).find((w) => path.resolve(w.path) !== own && w.branch === ib);
  const dir = holder?.path ?? fixWorktreePath(input.integrationWorktree);
  const g = (args: string): string => `git -C ${q(dir)} ${args}`;
  const cmds: string[] = [];
  if (!holder) cmds.push(`git -C ${q(input.repo)} worktree add ${q(dir)} ${q(ib)}`);
  const base = q(input.baseBranch);
  if (fix.mergeBase)
    cmds.push(fix.remote ? g(`pull --no-rebase --no-edit ${q(fix.remote)} ${base}`) : g(`merge --no-edit ${base}`));
  if (fix.kind === 'conflict') {
    const files = fix.files ?? [];
    cmds.push(`# your part: resolve the conflicts in ${files.join(', ')} (in ${dir}), then:`);
    cmds.push(g(`add -- ${files.map(q).join(' ')}`), g('commit --no-edit'));
  } else {
    cmds.push(`# your part: make \`${fix.failedCommand ?? 'the verify'}\` pass (in ${dir}), then:`);
    cmds.push(g('add --all'), g(`commit -m ${q(`Fix the mission verify of ${input.missionId}`)}`));
  }
  cmds.push(rerun);
  const what = fix.kind === 'conflict' ? 'Merge it yourself on' : 'Fix it on';
  return (
    `${what} ${ib}, ${holder ? `in ${dir}, where it is checked out` : 'in a worktree of it made for you'} ` +
    `(paste these commands as they are; do what the # line says where it stands). ` +
    `Landing again runs the mission verify on your commit before it lands it:\n` +
    cmds.map((c) => `    ${c}`).join('\n')
  );
}
