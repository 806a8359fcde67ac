/**
 * What the mission's `setup` changed in a worktree, so that it is never taken for the agent's
 * work. `npm install` creates `package-lock.json` (untracked, not ignored) and may rewrite
 * `package.json`; committing those would land thousands of lines nobody asked for.
 *
 * Around each setup run, the worktree's whole state (tracked and untracked files, minus ignored
 * ones and the mission's `copy` files) is staged into a temporary index and written as a tree:
 * once before setup, once after. Their difference (`git diff-tree -r`, one entry per path: the
 * index entry `<mode> <object id>` before and after, or null when the path was absent) is the
 * setup record, a JSON file in the worktree's own git directory (`.git/worktrees/<name>/`), so it
 * goes away with the worktree and a re-created worktree records its own setup.
 *
 * When the task's work is committed (commit.ts) or checkpointed (checkpoint.ts), every recorded
 * path whose content is still exactly what setup left is put back to what it was before setup:
 * a lock file setup created stays out, a file setup rewrote keeps its earlier content, and a path
 * the agent changed after setup is the agent's work and goes in as it is. So does a path the
 * agent committed itself (`git commit` in its worktree): HEAD already holds it as setup left it.
 */
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { excludePathspecs, git } from './git';
import { gitDirsOf, worktreeGitDir } from './git-dirs';

/** One path setup changed: its index entry (`<mode> <object id>`) before and after, null when absent. */
export interface SetupChange {
  before: string | null;
  after: string | null;
}

/** The setup record's file name in the worktree's git directory. */
const RECORD = 'flotilla-setup.json';

interface RecordFile {
  version: 1;
  /** The trees of the worktree's state before and after setup (for people looking into it). */
  before: string;
  after: string;
  changes: Record<string, SetupChange>;
}

/** Environment for git in a worktree: the index to use, and where git must stop looking for a repository. */
export type GitEnv = Record<string, string>;

/** The worktree's own git directory (absolute): `.git/worktrees/<name>` for a linked worktree. */
async function gitDirOf(worktree: string, env: GitEnv = {}): Promise<string> {
  return worktreeGitDir(worktree, env);
}

/**
 * Stages the whole state of `worktree` into a temporary index and runs `fn` with the environment
 * that selects it (`GIT_INDEX_FILE`, plus `env`): tracked and untracked files, minus what
 * .gitignore ignores and minus `exclude` (paths taken literally; a copy file the agent staged in
 * its own index is put back to HEAD's version, so it never lands in a tree). The temporary index
 * starts as a copy of the worktree's, with its mtime (git's racy-clean check compares file mtimes
 * against the index file's own), so unchanged files are not hashed again. Never touches the
 * worktree's own index, HEAD or files. With `leaveOutSetup`, what setup left is put back to its
 * state before setup (see {@link leaveOutSetupWork}).
 * @throws GitError when git fails
 */
export async function withStagedWorktree<T>(
  worktree: string,
  opts: { exclude: string[]; env?: GitEnv; leaveOutSetup?: boolean },
  fn: (env: GitEnv) => Promise<T>,
): Promise<T> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'flotilla-index-'));
  try {
    const base = opts.env ?? {};
    const index = path.join(tmp, 'index');
    // The index is `index` in the worktree's own git directory unless GIT_INDEX_FILE says otherwise.
    const dirs = base.GIT_INDEX_FILE || process.env.GIT_INDEX_FILE ? undefined : gitDirsOf(worktree);
    const realIndex = dirs
      ? path.join(dirs.own, 'index')
      : path.resolve(worktree, (await git(worktree, ['rev-parse', '--git-path', 'index'], { env: base })).trim());
    if (existsSync(realIndex)) {
      copyFileSync(realIndex, index);
      const st = statSync(realIndex);
      utimesSync(index, st.atime, st.mtime);
    } else {
      await git(worktree, ['read-tree', 'HEAD'], { env: { ...base, GIT_INDEX_FILE: index } });
    }
    const env = { ...base, GIT_INDEX_FILE: index };
    const literal = opts.exclude.filter((p) => p.trim() !== '');
    const excludes = await excludePathspecs(worktree, literal, env);
    await git(worktree, ['add', '--all', '--', '.', ...excludes], { env });
    if (literal.length > 0)
      await git(worktree, ['reset', '--quiet', 'HEAD', '--', ...literal.map((p) => `:(literal)${p}`)], { env });
    if (opts.leaveOutSetup) await leaveOutSetupWork(worktree, env);
    return await fn(env);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The tree of the worktree's whole state (see {@link withStagedWorktree}), setup's work included. */
export function worktreeTree(worktree: string, exclude: string[]): Promise<string> {
  return withStagedWorktree(worktree, { exclude }, async (env) =>
    (await git(worktree, ['write-tree'], { env })).trim(),
  );
}

/** Forgets the worktree's setup record (a setup is about to run again). */
export async function clearSetupRecord(worktree: string): Promise<void> {
  rmSync(path.join(await gitDirOf(worktree), RECORD), { force: true });
}

/**
 * Records what setup changed: the difference between `before` and `after`, two trees from
 * {@link worktreeTree} taken around the setup commands (`git diff-tree -r -z --no-renames`, whose
 * raw format is `:<mode> <mode> <id> <id> <status>\0<path>\0`; mode 000000 means absent).
 * @returns the paths setup changed
 */
export async function recordSetup(worktree: string, before: string, after: string): Promise<string[]> {
  const raw = await git(worktree, ['diff-tree', '-r', '-z', '--no-renames', before, after]);
  const fields = raw.split('\0');
  const changes: Record<string, SetupChange> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [srcMode, dstMode, srcId, dstId] = fields[i].replace(/^:/, '').split(' ');
    if (!dstId) continue;
    changes[fields[i + 1]] = {
      before: /^0+$/.test(srcMode) ? null : `${srcMode} ${srcId}`,
      after: /^0+$/.test(dstMode) ? null : `${dstMode} ${dstId}`,
    };
  }
  const record: RecordFile = { version: 1, before, after, changes };
  writeFileSync(path.join(await gitDirOf(worktree), RECORD), JSON.stringify(record));
  return Object.keys(changes);
}

/** The setup record of `worktree` (path -> change), empty when setup never ran or changed nothing. */
export async function readSetupRecord(worktree: string, env: GitEnv = {}): Promise<Map<string, SetupChange>> {
  const file = path.join(await gitDirOf(worktree, env), RECORD);
  if (!existsSync(file)) return new Map();
  const record = JSON.parse(readFileSync(file, 'utf8')) as Partial<RecordFile>;
  return new Map(Object.entries(record.changes ?? {}));
}

/**
 * The recorded paths whose entry in the index `env` selects is still exactly what setup left
 * (the agent did not change them since) and that HEAD does not already hold so (the agent did not
 * commit them itself), with what they were before setup.
 */
export async function unchangedSinceSetup(
  worktree: string,
  env: GitEnv,
): Promise<Array<{ path: string; before: string | null }>> {
  const record = await readSetupRecord(worktree, env);
  if (record.size === 0) return [];
  // `<mode> <id> <stage>\t<path>` per entry (git-ls-files --stage); conflicted paths (stage > 0)
  // never equal a recorded entry.
  const staged = new Map<string, string>();
  for (const line of (await git(worktree, ['ls-files', '--stage', '-z'], { env })).split('\0')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const [mode, id, stage] = line.slice(0, tab).split(' ');
    if (stage === '0') staged.set(line.slice(tab + 1), `${mode} ${id}`);
  }
  const unchanged = [...record].filter(([p, change]) => (staged.get(p) ?? null) === change.after);
  if (unchanged.length === 0) return [];
  const committed = await headEntries(
    worktree,
    unchanged.map(([p]) => p),
    env,
  );
  return unchanged
    .filter(([p, change]) => (committed.get(p) ?? null) !== change.after)
    .map(([p, change]) => ({ path: p, before: change.before }));
}

/** HEAD's entries (`<mode> <id>`) for `paths` (git-ls-tree: `<mode> <type> <id>\t<path>`). */
async function headEntries(worktree: string, paths: string[], env: GitEnv): Promise<Map<string, string>> {
  // Few paths (a lock file): named, taken literally; many: the whole tree, filtered here.
  const named = paths.length <= 256 ? ['--', ...paths.map((p) => `:(literal)${p}`)] : [];
  const out = new Map<string, string>();
  for (const line of (await git(worktree, ['ls-tree', '-r', '-z', 'HEAD', ...named], { env })).split('\0')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const [mode, , id] = line.slice(0, tab).split(' ');
    out.set(line.slice(tab + 1), `${mode} ${id}`);
  }
  return out;
}

/**
 * In the index `env` selects (after `git add --all`), puts every path that is still exactly what
 * setup left back to its entry from before setup (removed from the index when setup created it),
 * with `git update-index --index-info` (mode 0 removes a path). The files themselves are not
 * touched: setup's products stay in the worktree for the gate and the next iteration.
 * @returns the paths left out
 * @throws GitError when git fails
 */
export async function leaveOutSetupWork(worktree: string, env: GitEnv): Promise<string[]> {
  const unchanged = await unchangedSinceSetup(worktree, env);
  if (unchanged.length === 0) return [];
  const zero = (await git(worktree, ['rev-parse', 'HEAD'], { env })).trim().replace(/./g, '0');
  const lines = unchanged.map((u) => `${u.before ?? `0 ${zero}`}\t${u.path}\0`).join('');
  await git(worktree, ['update-index', '-z', '--index-info'], { env, input: lines });
  return unchanged.map((u) => u.path);
}

/**
 * Puts what setup made and nobody changed since (`paths`, from {@link unchangedSinceSetup}) out of
 * the way of `git worktree remove`, which refuses untracked and modified files: untracked paths
 * are deleted, tracked ones (a file setup rewrote) checked out from the index again (the task's
 * commit holds their state from before setup). Paths are taken literally. Only for a worktree
 * that is about to be removed: setup would make them again.
 */
export async function clearSetupLeftovers(worktree: string, paths: string[]): Promise<void> {
  if (paths.length === 0) return;
  const tracked = new Set(
    (await git(worktree, ['ls-files', '-z', '--', ...paths], { literal: true })).split('\0').filter(Boolean),
  );
  for (const rel of paths) if (!tracked.has(rel)) rmSync(path.join(worktree, rel), { force: true });
  if (tracked.size > 0) await git(worktree, ['checkout', '--', ...tracked], { literal: true });
}
