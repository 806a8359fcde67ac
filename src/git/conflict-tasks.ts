/**
 * Which tasks a merge conflict is with: the tasks already merged (since the conflicting task's
 * merge base) whose changes touch the hunks that conflict, not every task that touched the file.
 * Read from git alone: the merge commits `flotilla: merge <task>: <title>` on the first-parent line
 * of the commit the merge went onto (the candidate: the integration branch plus the batch so far),
 * and `git blame --first-parent` over the conflicting hunks, forward (lines a task added) and with
 * `--reverse` (lines a task removed). Used by `queueMerge` (every policy: `status`, the block
 * message) and `prepareConflict` (the resolver's prompt).
 */
import { git, gitSucceeds } from './git';

/** The subject of every task merge commit (merge-queue.ts, conflict.ts): the task id is read back from it. */
const MERGE_SUBJECT = /^flotilla: merge ([a-z0-9][a-z0-9-]*): /;

/** A hunk of `git diff -U0`: the lines it replaces in the old file and the lines it puts in the new one (1-based). */
interface Hunk {
  oldStart: number;
  oldCount: number;
  newStart: number;
  newCount: number;
}

/**
 * The hunks of `git diff -U0 from to -- file` (no renames, no external diff), or null when git
 * shows no text hunks for it (a binary file, a file missing on one side is a hunk too).
 */
async function hunks(dir: string, from: string, to: string, file: string): Promise<Hunk[] | null> {
  const out = await git(dir, ['diff', '-U0', '--no-color', '--no-ext-diff', '--no-renames', from, to, '--', file], {
    literal: true,
  });
  if (/^Binary files /m.test(out)) return null;
  const found: Hunk[] = [];
  for (const m of out.matchAll(/^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/gm)) {
    found.push({
      oldStart: Number(m[1]),
      oldCount: m[2] === undefined ? 1 : Number(m[2]),
      newStart: Number(m[3]),
      newCount: m[4] === undefined ? 1 : Number(m[4]),
    });
  }
  return found;
}

/**
 * The base lines a hunk covers, as a half-open interval of positions (line n is [n, n+1)); a pure
 * insertion after line n is the empty interval at n+1.
 */
const span = (h: Hunk): [number, number] =>
  h.oldCount === 0 ? [h.oldStart + 1, h.oldStart + 1] : [h.oldStart, h.oldStart + h.oldCount];

/**
 * Whether two changes of the same base conflict as git's merge (xdiff) decides it: they overlap,
 * or touch with no unchanged line between them.
 */
function clash(a: Hunk, b: Hunk): boolean {
  const [s1, e1] = span(a);
  const [s2, e2] = span(b);
  return s1 <= e2 && s2 <= e1;
}

/** The commits `git blame --porcelain` attributes lines to (`<sha> <orig> <final> [<count>]` lines). */
function blamedCommits(porcelain: string): Set<string> {
  return new Set([...porcelain.matchAll(/^([0-9a-f]{40,64}) \d+ \d+/gm)].map((m) => m[1]));
}

/** The first-parent commits of `onto` since `base`, oldest first, with the task each merges (or null). */
async function mergesSince(
  dir: string,
  base: string,
  onto: string,
): Promise<Array<{ sha: string; task: string | null }>> {
  const out = await git(dir, ['log', '--first-parent', '--format=%H%x09%s', `${base}..${onto}`]);
  return out
    .split('\n')
    .filter(Boolean)
    .reverse()
    .map((line) => {
      const tab = line.indexOf('\t');
      return { sha: line.slice(0, tab), task: MERGE_SUBJECT.exec(line.slice(tab + 1))?.[1] ?? null };
    });
}

/**
 * The tasks merged on `onto` since `mergeBase` whose changes clash with what `tip` changed in
 * `file` (see {@link clash}), or null when that cannot be told by lines (a binary file, a file
 * missing at the merge base or on either side, git failing): the caller then falls back to the
 * whole file.
 */
async function tasksInHunks(
  dir: string,
  mergeBase: string,
  onto: string,
  tip: string,
  file: string,
  merges: Array<{ sha: string; task: string | null }>,
): Promise<string[] | null> {
  const exists = (rev: string): Promise<boolean> => gitSucceeds(dir, ['cat-file', '-e', `${rev}:${file}`]);
  if (!(await exists(mergeBase)) || !(await exists(onto)) || !(await exists(tip))) return null;
  const ours = await hunks(dir, mergeBase, onto, file);
  const theirs = await hunks(dir, mergeBase, tip, file);
  if (!ours || !theirs) return null;
  const conflicting = ours.filter((o) => theirs.some((t) => clash(o, t)));
  if (conflicting.length === 0) return [];
  // Lines the merged tasks put in the conflicting hunks: blamed on their merge commits.
  const added = conflicting.filter((h) => h.newCount > 0).flatMap((h) => ['-L', `${h.newStart},+${h.newCount}`]);
  // Lines of the merge base they removed there: `--reverse` blames each on the last commit that
  // still had it; the first-parent commit after that one removed it.
  const removed = conflicting.filter((h) => h.oldCount > 0).flatMap((h) => ['-L', `${h.oldStart},+${h.oldCount}`]);
  const range = `${mergeBase}..${onto}`;
  const by = new Set<string>();
  if (added.length)
    for (const sha of blamedCommits(
      await git(dir, ['blame', '--porcelain', '--first-parent', ...added, range, '--', file], { literal: true }),
    ))
      by.add(sha);
  if (removed.length) {
    const order = [mergeBase, ...merges.map((m) => m.sha)];
    const last = blamedCommits(
      await git(dir, ['blame', '--porcelain', '--reverse', '--first-parent', ...removed, range, '--', file], {
        literal: true,
      }),
    );
    for (const sha of last) {
      const next = order[order.indexOf(sha) + 1];
      if (order.includes(sha) && next) by.add(next);
    }
  }
  return merges.filter((m) => m.task && by.has(m.sha)).map((m) => m.task!);
}

/**
 * The tasks whose merged changes the merge of `tip` onto `onto` conflicts with: for each of
 * `files` (the conflicted paths), the tasks merged on `onto`'s first-parent line since
 * `mergeBase` whose lines clash with `tip`'s in that file's conflicting hunks; for a file whose
 * lines cannot be compared (binary, added or deleted on a side), the tasks whose merges changed
 * the file at all. Oldest merge first, each task once. Only merge commits with the subject
 * `flotilla: merge <id>: …` name a task (commits made by hand on the integration branch do not).
 * @throws GitError when git cannot list the merges (an unknown commit)
 */
export async function conflictingTasks(
  dir: string,
  mergeBase: string,
  onto: string,
  tip: string,
  files: string[],
): Promise<string[]> {
  if (files.length === 0) return [];
  const merges = await mergesSince(dir, mergeBase, onto);
  const found = new Set<string>();
  for (const file of files) {
    const inHunks = await tasksInHunks(dir, mergeBase, onto, tip, file, merges).catch(() => null);
    if (inHunks) {
      inHunks.forEach((t) => found.add(t));
      continue;
    }
    for (const m of merges) {
      if (!m.task || found.has(m.task)) continue;
      const changed = await git(dir, ['diff', '--name-only', '--no-renames', `${m.sha}^1`, m.sha, '--', file], {
        literal: true,
      });
      if (changed.trim()) found.add(m.task);
    }
  }
  return merges.flatMap((m) => (m.task && found.has(m.task) ? [m.task] : [])).filter((t, i, a) => a.indexOf(t) === i);
}
