/**
 * `flotilla land ID [--ff | --push REMOTE [--pr]] [--partial] [--json]`: puts an ended mission's
 * verified merges on its base branch (see src/client/land.ts and src/git/land.ts).
 */
import { Command } from 'commander';
import { loadConfig } from '../config';
import { LandFlags, landFromCli, Landed, landingMode } from '../land';
import { say, withMission } from './context';

const short = (sha: string | null): string => (sha ? sha.slice(0, 8) : '(none)');

/** What `land` did, in lines for people. */
export function renderLanded(id: string, r: Landed): string[] {
  const out: string[] = [];
  const where = r.mode === 'ff' ? r.base : `${r.remote}/${r.base}`;
  if (r.alreadyLanded) {
    out.push(`mission ${id} is already on ${where} (${short(r.landed)}): nothing to do`);
    return out;
  }
  if (r.mode === 'ff')
    out.push(
      `landed mission ${id} on ${r.base}: ${short(r.baseBefore)} -> ${short(r.landed)}` +
        (r.checkout ? ` (fast-forwarded the checkout in ${r.checkout})` : ' (moved the branch; it is not checked out)'),
    );
  else if (r.mode === 'push') out.push(`landed mission ${id} on ${where}: pushed ${short(r.landed)}`);
  else
    out.push(
      `pushed mission ${id} to ${r.remote}/${r.pushed.join(', ')} at ${short(r.landed)} for a pull request into ${r.base}`,
    );
  if (r.baseMerged)
    out.push(
      `  ${r.base} had moved since the mission started: ${short(r.landed)} merges it` +
        (r.verified ? ', and the mission verify passed on it' : ' (the mission has no verify commands to run on it)'),
    );
  else if (r.verified) out.push(`  the mission verify passed on ${short(r.landed)}`);
  out.push(`  tasks: ${r.tasks.join(', ')}`);
  if (r.pr) {
    if (r.pr.created) out.push(`  pull request: ${r.pr.url ?? '(gh printed no URL)'}`);
    else {
      out.push(
        r.pr.error
          ? `  gh could not create the pull request: ${r.pr.error}`
          : '  gh is not on PATH: create the pull request with',
      );
      if (r.pr.error) out.push('  create it with');
      out.push(
        `    ${r.pr.command.map((a) => (/[\s'"$`\\]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(' ')}`,
      );
      out.push(`  (the description is in ${r.pr.descriptionFile})`);
    }
  }
  return out;
}

/** Adds `flotilla land` to the program. */
export function register(program: Command): void {
  program
    .command('land')
    .description(
      "put an ended mission's verified merges on its base branch: fast-forward it (default), push it, or open a pull request",
    )
    .argument('<id>', 'mission id')
    .option('--ff', 'fast-forward the local base branch (the default without --push)')
    .option('--push <remote>', "push to the remote's base branch instead")
    .option('--pr', 'with --push: push the integration branch and open a pull request (gh) instead')
    .option('--partial', 'land the merged tasks of a mission that ended failed or cancelled')
    .option('--json', 'print what landed as JSON')
    .action(async (id: string, opts: LandFlags & { json?: boolean }) => {
      landingMode(opts); // flags that contradict each other exit 2 before anything connects
      const r = await withMission(loadConfig(), id, (mission) => landFromCli(mission, opts));
      if (opts.json) {
        // `status` is always `landed` here: anything else exited with its message.
        say(JSON.stringify({ missionId: id, ...r, status: undefined }, null, 2));
      } else renderLanded(id, r).forEach((l) => say(l));
      // The pull request was the point of --pr: not having it is not success.
      if (r.pr?.error) process.exitCode = 1;
    });
}
