/**
 * The pull request of a `pr` landing: its Markdown description (the mission's tasks, verify,
 * conflicts) and `gh pr create`, run when `gh` is on PATH.
 */
import execa from 'execa';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lines, short } from './land-git';
import type { LandMissionInput, LandPr } from './land-types';
import { displayCommand } from '../agents/process';
import { privateFile, secretRedactor } from '../secrets/secrets';

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
 * Writes the pull request's description under `$FLOTILLA_HOME/land/<mission>/pr-description.md`
 * and runs `gh pr create` (base: the base branch, head: the integration branch) when `gh` is on
 * PATH; without it, or when it fails, the result carries the command to run and `gh`'s error.
 */
export async function openPullRequest(
  input: LandMissionInput,
  landing: { landed: string; baseMerged: boolean; verified: boolean },
  home: string,
): Promise<LandPr> {
  const { title, body } = prDescription(input, landing);
  const descriptionFile = path.join(home, 'land', input.missionId, 'pr-description.md');
  writeFileSync(privateFile(descriptionFile), secretRedactor().text(body));
  const command = [
    'gh',
    'pr',
    'create',
    '--base',
    input.baseBranch,
    '--head',
    input.integrationBranch,
    '--title',
    title,
    '--body-file',
    descriptionFile,
  ];
  const pr: LandPr = { descriptionFile, command, created: false, url: null, error: null };
  const gh = findOnPath('gh');
  if (gh) {
    const r = await execa(gh, command.slice(1), {
      cwd: input.repo,
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
  return pr;
}
