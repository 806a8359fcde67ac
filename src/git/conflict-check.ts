/**
 * `checkResolution`: a resolver's work checked against git, not against what the resolver says
 * (conflict markers, files outside the conflicted set, each side's clean additions).
 */
import execa from 'execa';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { blobAt, list, mergeTree, nul, readBaseline, short, unique, untrackedFiles } from './conflict-git';
import { git, resolveRef } from './git';
import type { CheckResolutionInput, CheckResolutionResult } from './merge-queue-types';

/** How many marker lines or dropped lines a problem quotes. */
const SAMPLES = 3;

/** A file in the worktree (bytes), or null when it is missing or not a regular file. */
function fileIn(worktree: string, file: string): Buffer | null {
  const p = path.join(worktree, file);
  try {
    return lstatSync(p).isFile() ? readFileSync(p) : null;
  } catch {
    return null;
  }
}

/** Binary the way git decides it: a NUL byte in the first 8000. */
const isBinary = (b: Buffer | null): boolean => !!b && b.subarray(0, 8000).includes(0);

/**
 * Per line (trimmed), how many times it occurs; only lines that say something: with a letter or
 * digit and at least 2 characters (a lone `}` or an empty line is in every resolution).
 */
function lineCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.length < 2 || !/[\p{L}\p{N}]/u.test(line)) continue;
    counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  return counts;
}

/** `git merge-file -p --ours|--theirs`: the merge of one file with its conflicting hunks taken from one side. */
async function mergeFavoring(tmp: string, side: 'ours' | 'theirs'): Promise<string> {
  const r = await execa(
    'git',
    ['merge-file', '-p', `--${side}`, '-L', 'ours', '-L', 'base', '-L', 'theirs', 'ours', 'base', 'theirs'],
    { cwd: tmp, reject: false, stdin: 'ignore', stripFinalNewline: false },
  );
  // merge-file exits with the number of conflicts (0 with --ours/--theirs); negative: an error.
  if ((r.exitCode ?? 255) >= 128) throw new Error(`git merge-file failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * The lines each side added outside the conflicting hunks of one file, as counts per line:
 * merging with the conflicts taken from `ours` gives ours plus theirs' clean changes, so a line it
 * holds more often than ours does is one theirs added cleanly (and the other way round).
 */
async function cleanAdditions(
  base: string,
  ours: string,
  theirs: string,
): Promise<{ ours: Map<string, number>; theirs: Map<string, number> }> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'flotilla-merge-file-'));
  try {
    writeFileSync(path.join(tmp, 'base'), base);
    writeFileSync(path.join(tmp, 'ours'), ours);
    writeFileSync(path.join(tmp, 'theirs'), theirs);
    const excess = (merged: string, side: string): Map<string, number> => {
      const have = lineCounts(side);
      const out = new Map<string, number>();
      for (const [line, n] of lineCounts(merged)) {
        const extra = n - (have.get(line) ?? 0);
        if (extra > 0) out.set(line, extra);
      }
      return out;
    };
    // -p prints the merge instead of writing it over `ours`: both merges read the same inputs.
    const [favorOurs, favorTheirs] = [await mergeFavoring(tmp, 'ours'), await mergeFavoring(tmp, 'theirs')];
    return { theirs: excess(favorOurs, ours), ours: excess(favorTheirs, theirs) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Conflict marker lines as git writes them (7 characters, then a space or the line's end), per line number. */
function markerLines(text: string): Array<{ n: number; line: string }> {
  const found: Array<{ n: number; line: string }> = [];
  text.split('\n').forEach((line, i) => {
    if (/^(<{7}|\|{7}|={7}|>{7})(\s|$)/.test(line)) found.push({ n: i + 1, line: line.slice(0, 7) });
  });
  return found;
}

/**
 * Checks a resolution in the conflict worktree `input.worktree`, trusting nothing the resolver
 * said: (a) no conflict markers left in the conflicted files (a marker line the side's own file
 * already holds, say a `=======` underline, is not counted); (b) nothing outside the conflicted
 * set differs from the merge git made (`git merge-tree` of `onto` and `branchTip`), in the index
 * or the worktree, and no new untracked files outside it (ignored files, and what `copy` and
 * `setup` left, are fine); (c) the lines each side added outside the conflicting hunks are still
 * in each resolved file (a whole file taken from one side drops the other's). Lines are compared
 * trimmed, and only lines with a letter or digit count. (c) cannot tell a line adapted on purpose
 * (a call renamed to fit the other side) from one dropped: such a resolution is rejected too, and
 * the workflow's limit on resolver rounds ends that impasse. Also: the merge must still be in
 * progress (HEAD at `onto`, MERGE_HEAD at `branchTip`). Facts come from git: the three versions of
 * each file (`mergeBase`, `onto`, `branchTip`), `git merge-file` for each side's clean additions,
 * `git merge-tree` for the merge's own result, the baseline of untracked files prepareConflict
 * recorded.
 * @returns ok, or every problem found, in words a resolver can act on (a merge no longer in
 *   progress is reported alone)
 * @throws Error when the worktree is gone or git fails
 */
export async function checkResolution(input: CheckResolutionInput): Promise<CheckResolutionResult> {
  const { worktree, branchTip } = input;
  if (!existsSync(path.join(worktree, '.git')))
    throw new Error(`the conflict worktree ${worktree} is gone; the merge must be prepared again`);
  // The merge must still be in progress where it was set up: all else is compared against it.
  const notInProgress = await mergeMoved(input);
  if (notInProgress.length > 0) return { ok: false, problems: notInProgress };

  const sides = {
    theirs: `the task branch being merged (${input.taskId ? `task "${input.taskId}", ` : ''}MERGE_HEAD ${short(branchTip)})`,
    ours: `the side already merged (HEAD ${short(input.onto)}: the tasks merged before)`,
  };
  const problems: string[] = [];
  const conflicted = unique(input.conflicted);
  for (const file of conflicted) problems.push(...(await fileProblems(input, file, sides)));
  problems.push(...(await outsideProblems(input, new Set(conflicted))));
  return { ok: problems.length === 0, problems };
}

/** Problems when HEAD or MERGE_HEAD moved since the merge was set up (none while it is in progress). */
async function mergeMoved(input: CheckResolutionInput): Promise<string[]> {
  const { worktree, onto, branchTip } = input;
  const problems: string[] = [];
  const head = await resolveRef(worktree, 'HEAD');
  const mergeHead = await resolveRef(worktree, 'MERGE_HEAD');
  if (head !== onto)
    problems.push(
      `HEAD is ${short(head)}, not ${short(onto)} (the commit being merged onto): you committed, reset or checked something out. Leave the merge uncommitted; Flotilla commits it. The merge has to be set up again.`,
    );
  if (mergeHead !== branchTip)
    problems.push(
      `the merge is no longer in progress (MERGE_HEAD is ${short(mergeHead)}, not ${short(branchTip)}): do not run \`git merge --abort\`, \`git reset\` or \`git commit\`. The merge has to be set up again.`,
    );
  return problems;
}

/**
 * Checks (a) and (c) for one conflicted file: conflict markers left (more marker lines of a kind
 * than either side's own file has), else each side's additions outside the conflicting hunks kept.
 * `sides` names each side in the problems. Binary files are skipped.
 */
async function fileProblems(
  input: CheckResolutionInput,
  file: string,
  sides: { theirs: string; ours: string },
): Promise<string[]> {
  const { worktree } = input;
  const resolved = fileIn(worktree, file);
  const [base, ours, theirs] = [
    await blobAt(worktree, input.mergeBase, file),
    await blobAt(worktree, input.onto, file),
    await blobAt(worktree, input.branchTip, file),
  ];
  if ([resolved, base, ours, theirs].some(isBinary)) return []; // binary: neither markers nor lines apply
  const text = resolved?.toString('utf8') ?? '';

  // (a) Markers: more marker lines of a kind than either side's own file has.
  const kinds = (b: Buffer | null): Map<string, number> => {
    const m = new Map<string, number>();
    for (const { line } of markerLines(b?.toString('utf8') ?? '')) m.set(line, (m.get(line) ?? 0) + 1);
    return m;
  };
  const [mine, inOurs, inTheirs] = [kinds(resolved), kinds(ours), kinds(theirs)];
  const left = markerLines(text).filter(
    ({ line }) => (mine.get(line) ?? 0) > Math.max(inOurs.get(line) ?? 0, inTheirs.get(line) ?? 0),
  );
  if (left.length > 0) {
    const at = left.slice(0, SAMPLES * 4).map((m) => `${m.n} (${m.line})`);
    // A file still in conflict: its lines are checked once it is resolved.
    return [
      `${file}: conflict markers are left at line${left.length > 1 ? 's' : ''} ${at.join(', ')}${left.length > at.length ? ', …' : ''}; resolve every conflict in it and remove all its markers`,
    ];
  }

  // (c) What each side added outside the conflicting hunks is still there.
  const required = await cleanAdditions(
    base?.toString('utf8') ?? '',
    ours?.toString('utf8') ?? '',
    theirs?.toString('utf8') ?? '',
  );
  const have = lineCounts(text);
  const problems: string[] = [];
  for (const side of ['theirs', 'ours'] as const) {
    const dropped = [...required[side]].filter(([line, n]) => (have.get(line) ?? 0) < n).map(([line]) => line);
    if (dropped.length === 0) continue;
    const samples = dropped.slice(0, SAMPLES).map((l) => JSON.stringify(l.length > 120 ? `${l.slice(0, 120)}…` : l));
    const gone = resolved ? '' : ' (the file is gone)';
    problems.push(
      `${file}: ${dropped.length} line(s) that ${sides[side]} added outside the conflicting hunks are missing${gone}, e.g. ${samples.join(', ')}. ` +
        "Those changes merged without conflict and must stay: combine both sides (taking one side's whole file, as `git checkout --ours/--theirs` does, drops the other side's changes).",
    );
  }
  return problems;
}

/**
 * Check (b): nothing outside the conflicted set `inSet` differs from the merge git made (index or
 * worktree against `git merge-tree`'s tree), and no new untracked file outside it (against the
 * baseline prepareConflict recorded).
 */
async function outsideProblems(input: CheckResolutionInput, inSet: Set<string>): Promise<string[]> {
  const { worktree } = input;
  const problems: string[] = [];
  const { tree } = await mergeTree(worktree, input.onto, input.branchTip);
  const changed = unique([
    ...nul(await git(worktree, ['diff', '--cached', '--no-renames', '--name-only', '-z', tree], { literal: true })),
    ...nul(await git(worktree, ['diff', '--no-renames', '--name-only', '-z', tree], { literal: true })),
  ]).filter((f) => !inSet.has(f));
  if (changed.length > 0)
    problems.push(
      `files outside the conflicted set were changed: ${list(changed)}. Only the files in $FLOTILLA_CONFLICTS may change; put the others back as the merge left them with \`git restore --source=${tree} --staged --worktree -- <file>\`.`,
    );
  const baseline = await readBaseline(worktree);
  const added = [...(await untrackedFiles(worktree))]
    .filter(([f, id]) => !inSet.has(f) && baseline[f] !== id)
    .map(([f]) => f);
  if (added.length > 0)
    problems.push(
      `new files outside the conflicted set: ${list(added)}. A resolution only edits the files in $FLOTILLA_CONFLICTS; delete these.`,
    );
  return problems;
}
