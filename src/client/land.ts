/**
 * `flotilla land` on the CLI's side: which missions may land, and the landing's input built from
 * the mission's final progress and its spec (the git work is `landMission` in
 * src/git/land.ts, run here directly: the CLI runs where the repository is).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { paths } from '../git/worktree-layout';
import { LandingMode, LandMissionInput, LandNotes, LandResult, landMission } from '../git/land';
import { runKey } from '../git/worktree-layout';
import { shellQuote } from '../mission/shell-quote';
import type { MissionProgress } from '../mission/progress';
import type { MissionSpec } from '../mission/types';
import { MISSION_VERIFY_COMMAND_TIMEOUT_MS } from '../workflows/limits';
import { commandNamesOf } from '../workflows/mission/types';
import type { MissionContext } from './commands/context';
import { CliError, EXIT } from './errors';
import { notifyLanded } from './notify-landed';
import { endedAs, missionStart } from './missions';

/** The flags of `flotilla land`. */
export interface LandFlags {
  ff?: boolean;
  push?: string;
  pr?: boolean;
  partial?: boolean;
}

export type Landed = Extract<LandResult, { status: 'landed' }>;

/**
 * The landing mode the flags ask for: `--ff` (the default), `--push REMOTE`, `--push REMOTE --pr`.
 * @throws CliError exit 2 for flags that contradict each other
 */
export function landingMode(flags: LandFlags): { mode: LandingMode; remote?: string } {
  if (flags.ff && flags.push)
    throw new CliError(
      '--ff and --push exclude each other: --ff moves the local base branch, --push a remote one\nfix: keep one of them',
      EXIT.invalid,
    );
  if (flags.pr && !flags.push)
    throw new CliError(
      '--pr needs a remote to push the integration branch to\nfix: add --push REMOTE, e.g. --push origin --pr',
      EXIT.invalid,
    );
  if (flags.push) return { mode: flags.pr ? 'pr' : 'push', remote: flags.push };
  return { mode: 'ff' };
}

/** The flags as `flotilla land` takes them, for the command that runs a landing again. */
function landFlags(flags: LandFlags): string[] {
  return [
    ...(flags.ff ? ['--ff'] : []),
    ...(flags.push ? ['--push', flags.push] : []),
    ...(flags.pr ? ['--pr'] : []),
    ...(flags.partial ? ['--partial'] : []),
  ];
}

/**
 * Checks the mission may land: it ended completed, or (with `partial`) ended in any way with
 * merged tasks, and its integration branch exists on this host.
 * @throws CliError exit 1 saying why not and what to do
 */
export function checkLandable(progress: MissionProgress, partial: boolean): void {
  const id = progress.missionId;
  const merged = progress.tasks.filter((t) => t.status === 'merged');
  if (progress.phase !== 'completed') {
    if (!partial)
      throw new CliError(
        `mission "${id}" ended ${endedAs(progress)}; only a completed mission lands. ` +
          (merged.length > 0
            ? `To land its ${merged.length} merged task${merged.length === 1 ? '' : 's'} (${merged.map((t) => t.id).join(', ')}) anyway: flotilla land ${id} --partial`
            : `None of its tasks merged, so there is nothing to land`),
        EXIT.failed,
      );
    if (merged.length === 0)
      throw new CliError(
        `mission "${id}" ended ${endedAs(progress)} with no merged task: there is nothing to land`,
        EXIT.failed,
      );
  }
  if (!progress.baseSha || !progress.integrationSha)
    throw new CliError(
      `mission "${id}" ended before it made its integration branch: there is nothing to land`,
      EXIT.failed,
    );
  if (!existsSync(progress.repo))
    throw new CliError(
      `mission "${id}"'s repository ${progress.repo} is not on this host; run \`flotilla land ${id}\` where it is`,
      EXIT.failed,
    );
}

/**
 * Flotilla's own integration worktree of the mission, where landing runs the verify:
 * `$FLOTILLA_HOME/worktrees/<id>/<run>/integration` (detached there, or gone: landing re-creates
 * it). Never a worktree a person made, even one that has the integration branch checked out.
 */
export function integrationWorktreeOf(home: string, progress: MissionProgress, ownerRunId: string): string {
  return path.join(paths.worktreesRoot(home, progress.missionId, runKey(ownerRunId)), 'integration');
}

/**
 * The landing's input from the mission's final progress (its merged tasks, the SHAs it ended
 * with) and its spec (verify, setup, each task's agent). The resolver's decisions and the verify
 * history are read from progress fields a workflow may add (`conflicts`, `verifyRuns`).
 */
export function landInput(
  progress: MissionProgress,
  spec: MissionSpec,
  integrationWorktree: string,
  how: { mode: LandingMode; remote?: string },
): LandMissionInput {
  const specOf = new Map(spec.tasks.map((t) => [t.id, t]));
  const extra = progress as MissionProgress & { conflicts?: unknown; verifyRuns?: unknown };
  const notes: LandNotes = {
    notMerged: progress.tasks
      .filter((t) => t.status !== 'merged')
      .map((t) => ({ id: t.id, title: t.title, status: t.status })),
    conflicts: Array.isArray(extra.conflicts) ? extra.conflicts : undefined,
    verifyRuns: Array.isArray(extra.verifyRuns) ? extra.verifyRuns : undefined,
  };
  return {
    missionId: progress.missionId,
    repo: progress.repo,
    baseBranch: progress.baseBranch,
    baseSha: progress.baseSha!,
    integrationBranch: progress.integrationBranch,
    integrationSha: progress.integrationSha!,
    tasks: progress.tasks
      .filter((t) => t.status === 'merged')
      .map((t) => ({
        id: t.id,
        title: t.title,
        branch: t.branch,
        runtime: specOf.get(t.id)?.agent.runtime,
        model: specOf.get(t.id)?.agent.model,
        costUsd: t.costUsd,
        diffstat: t.diffstat,
      })),
    verify: spec.verify,
    verifyTimeoutMs: MISSION_VERIFY_COMMAND_TIMEOUT_MS,
    integrationWorktree,
    setup: spec.setup,
    ...commandNamesOf(spec),
    mode: how.mode,
    remote: how.remote,
    notes,
  };
}

/**
 * Lands the mission of `mission` as `flotilla land` asks.
 * @returns what landed
 * @throws CliError exit 1 (running, not landable, missing task, verify failed, push refused),
 *   exit 2 (contradicting flags), exit 3 (a conflict with the moved base, a checkout with
 *   changes), exit 4 (unknown mission)
 */
export async function landFromCli(mission: MissionContext, flags: LandFlags): Promise<Landed> {
  const how = landingMode(flags);
  const id = mission.missionId;
  if (await mission.running())
    throw new CliError(
      `mission "${id}" is still running; it can land once it has ended (follow it with \`flotilla watch ${id}\`)`,
      EXIT.failed,
    );
  const progress = await mission.progress();
  checkLandable(progress, !!flags.partial);
  const start = await missionStart(mission.client, mission.config, await mission.describe());
  const worktree = integrationWorktreeOf(mission.config.home, progress, start.ownerRunId);
  const rerun = ['flotilla', 'land', id, ...landFlags(flags)].map(shellQuote).join(' ');
  const result = await landMission(landInput(progress, start.input.spec, worktree, how), {
    home: mission.config.home,
    rerun,
  });
  if (result.status === 'needs-human') throw new CliError(result.message, EXIT.needsHuman);
  if (result.status === 'failed') throw new CliError(result.message, EXIT.failed);
  for (const warning of await notifyLanded(start.input.spec, result)) process.stderr.write(`${warning}\n`);
  return result;
}
