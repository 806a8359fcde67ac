/** `flotilla list [--phase PHASE] [--repo PATH] [--limit N] [--json]`: missions, newest first. */
import { Command } from 'commander';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { loadConfig } from '../config';
import { CliError, EXIT } from '../errors';
import { renderMissionList, stdoutOptions } from '../render';
import { listMissions, missionQuery } from '../visibility';
import { say, withConnection } from './context';

interface ListOptions {
  phase?: string;
  repo?: string;
  limit?: string;
  json?: boolean;
}

/**
 * The repository path as a mission records it (`FlotillaRepo`): absolute, and for a directory in
 * a git repository its top level, as the mission file's `repo` is resolved. A path that no longer
 * exists is only made absolute (its missions still match).
 */
export async function resolveRepoFilter(repo: string, cwd = process.cwd()): Promise<string> {
  const abs = path.resolve(cwd, repo);
  if (!existsSync(abs)) return abs;
  try {
    return (await simpleGit({ baseDir: abs }).revparse(['--show-toplevel'])).trim();
  } catch {
    return realpathSync(abs);
  }
}

/** Adds `flotilla list` to the program. */
export function register(program: Command): void {
  program
    .command('list')
    .description('missions, newest first, with their phase, progress, cost and repository')
    .option('--phase <phase>', 'only missions in this phase (running, blocked, completed, ...)')
    .option('--repo <path>', 'only missions on this repository')
    .option('--limit <n>', 'at most this many missions', '50')
    .option('--json', 'print JSON')
    .action(async (opts: ListOptions) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new CliError(
          `--limit must be a whole number of at least 1, not "${opts.limit}"\nfix: e.g. --limit 20`,
          EXIT.invalid,
        );
      // An unknown phase is bad input: say so before connecting (exit 2, not "cannot reach").
      missionQuery({ phase: opts.phase });
      const repo = opts.repo === undefined ? undefined : await resolveRepoFilter(opts.repo);
      const missions = await withConnection(loadConfig(), ({ client }) =>
        listMissions(client, { phase: opts.phase, repo, limit }),
      );
      const filtered = opts.phase !== undefined || repo !== undefined;
      if (opts.json) say(JSON.stringify(missions, null, 2));
      else if (missions.length === 0)
        say(filtered ? 'no missions match' : 'no missions yet: flotilla run <mission.yaml>');
      else say(renderMissionList(missions, stdoutOptions()));
    });
}
