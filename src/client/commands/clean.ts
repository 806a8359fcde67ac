/**
 * `flotilla clean [ID] [--repo PATH] [--yes] [--json]`: lists, and with `--yes` removes, the
 * worktrees, branches and refs Flotilla made for a mission (or every mission of the repository)
 * that are merged or landed and no longer in use (the rules: src/client/clean.ts).
 */
import { Command } from 'commander';
import { WorkflowNotFoundError } from '@temporalio/client';
import { GitError } from '../../git/git';
import type { MissionSpec } from '../../mission/types';
import { names } from '../../mission/types';
import {
  CleanItem,
  CleanOutcome,
  CleanPlan,
  executeCleanup,
  KeptItem,
  MissionFacts,
  missionsIn,
  planCleanup,
  repositoryOf,
} from '../clean';
import { FlotillaConfig, loadConfig } from '../config';
import { CliError, EXIT } from '../errors';
import { missionStart } from '../missions';
import { Connected, say, withConnection } from './context';

interface CleanOptions {
  repo?: string;
  yes?: boolean;
  json?: boolean;
}

/** What Temporal knows of the mission (running, its spec), or undefined when it does not know it. */
async function factsOf(
  { client, config }: Connected,
  missionId: string,
): Promise<(MissionFacts & { spec: MissionSpec }) | undefined> {
  const handle = client.workflow.getHandle(names.missionWorkflowId(missionId));
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
  const { input } = await missionStart(client, config, { handle, description });
  return {
    running: description.status.name === 'RUNNING',
    base: input.spec.base,
    copy: input.spec.copy,
    spec: input.spec,
  };
}

/** The repository to clean: `--repo`, else the mission's own, else the current directory's. */
async function repository(dir: string, how: string): Promise<string> {
  try {
    return await repositoryOf(dir);
  } catch (err) {
    if (err instanceof GitError)
      throw new CliError(`${dir} (${how}) is not in a git repository; pass --repo PATH`, EXIT.invalid);
    throw err;
  }
}

const LABEL: Record<CleanItem['kind'], string> = {
  'task-worktree': 'task worktree',
  'conflict-worktree': 'conflict worktree',
  'integration-worktree': 'integration worktree',
  'task-branch': 'task branch',
  'integration-branch': 'integration branch',
  'candidate-ref': 'candidate ref',
  'merge-ref': 'merge ref',
  'checkpoint-ref': 'checkpoint ref',
  'stale-checkpoint-ref': 'stale checkpoint',
  'owner-ref': 'branch owner',
  'lease-ref': 'origin lease',
};

function line(verb: string, item: CleanItem | KeptItem): string {
  const what = `${LABEL[item.kind].padEnd(20)} ${item.name}`;
  const where = item.path && item.path !== item.name ? `  ${item.path}` : '';
  const archived = item.archive && verb !== 'keep' ? `  (archived as ${item.archive})` : '';
  const reason = 'reason' in item ? `: ${item.reason}` : '';
  return `  ${verb.padEnd(8)} ${what}${where}${archived}${reason}`;
}

/** The plan (and what was done) for people. */
function render(plan: CleanPlan, outcome: CleanOutcome | undefined): string[] {
  const out: string[] = [];
  if (plan.missions.length === 0) return [`nothing of Flotilla's in ${plan.repo}`];
  const removed = outcome ? outcome.removed : plan.remove;
  const kept = outcome ? [...plan.keep, ...outcome.failed] : plan.keep;
  for (const id of plan.missions) {
    out.push(`mission ${id} in ${plan.repo}:`);
    const mine = [...removed.filter((i) => i.mission === id), ...kept.filter((i) => i.mission === id)];
    if (mine.length === 0) out.push('  nothing left');
    for (const i of removed.filter((i) => i.mission === id)) out.push(line(outcome ? 'removed' : 'remove', i));
    for (const i of kept.filter((i) => i.mission === id)) out.push(line('keep', i));
  }
  if (outcome)
    out.push(
      `removed ${outcome.removed.length}, kept ${kept.length}` +
        (outcome.removed.some((i) => i.archive)
          ? '; deleted branches and stale checkpoints are archived under refs/flotilla/archive/'
          : '') +
        (outcome.failed.length ? `; git refused ${outcome.failed.length} (see above)` : ''),
    );
  else
    out.push(
      plan.remove.length
        ? `${plan.remove.length} to remove, ${plan.keep.length} to keep; nothing was changed: add --yes to remove them`
        : `nothing to remove (${plan.keep.length} kept)`,
    );
  return out;
}

const publicItem = (i: CleanItem | KeptItem): Record<string, unknown> => ({
  mission: i.mission,
  kind: i.kind,
  name: i.name,
  ...(i.path ? { path: i.path } : {}),
  ...(i.archive ? { archive: i.archive } : {}),
  ...('reason' in i ? { reason: i.reason } : {}),
});

async function clean(config: FlotillaConfig, id: string | undefined, opts: CleanOptions): Promise<void> {
  if (id !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(id))
    throw new CliError(`"${id}" is not a mission id (lowercase letters, digits and dashes)`, EXIT.invalid);
  await withConnection(config, async (connected) => {
    const facts = new Map<string, MissionFacts>();
    const known = id !== undefined ? await factsOf(connected, id) : undefined;
    if (id !== undefined && known) facts.set(id, known);
    const unknown = (where: string): CliError =>
      new CliError(
        `no mission "${id}": Temporal (namespace ${config.namespace}) does not know it, and ${where} (see \`flotilla list\`)`,
        EXIT.unknownMission,
      );
    let repo: string;
    if (opts.repo) repo = await repository(opts.repo, '--repo');
    else if (known) repo = await repository(known.spec.repo, `mission ${id}'s repository`);
    else
      repo = await repository(process.cwd(), 'the current directory').catch((err: unknown) => {
        // An unknown id says more than "not in a repository" about what went wrong.
        throw id !== undefined ? unknown('there is no repository here to look for it in') : err;
      });
    const found = await missionsIn(repo, config.home);
    const ids = id !== undefined ? [id] : found;
    if (id !== undefined && !known && !found.includes(id)) throw unknown(`${repo} has nothing of it`);
    // Not knowing a mission found in git (its Temporal history is gone) means it runs nowhere.
    for (const m of ids) if (!facts.has(m)) facts.set(m, (await factsOf(connected, m)) ?? { running: false });
    const plan = await planCleanup(repo, config.home, id !== undefined && !found.includes(id) ? [] : ids, facts);
    const outcome = opts.yes ? await executeCleanup(plan) : undefined;
    if (opts.json)
      say(
        JSON.stringify(
          {
            repo,
            remove: plan.remove.map(publicItem),
            keep: plan.keep.map(publicItem),
            ...(outcome ? { removed: outcome.removed.map(publicItem), failed: outcome.failed.map(publicItem) } : {}),
          },
          null,
          2,
        ),
      );
    else render(plan, outcome).forEach((l) => say(l));
    if (outcome && outcome.failed.length > 0) process.exitCode = EXIT.failed;
  });
}

/** Adds `flotilla clean` to the program. */
export function register(program: Command): void {
  program
    .command('clean')
    .description(
      'list (and with --yes remove) the worktrees, branches and refs Flotilla made that are merged or landed and no longer in use',
    )
    .argument('[id]', 'mission id (default: every mission in the repository)')
    .option('--repo <path>', "the repository (default: the mission's, else the current directory's)")
    .option('--yes', 'remove them (deleted branches are archived under refs/flotilla/archive/<id>/)')
    .option('--json', 'print {remove, keep} (and {removed, failed} with --yes) as JSON')
    .action(async (id: string | undefined, opts: CleanOptions) => {
      await clean(loadConfig(), id, opts);
    });
}
