/**
 * Provisioning a worktree before anything runs in it: the mission's `copy` files, then its
 * `setup` commands, once per worktree. Markers in the worktree's state folder say how far setup
 * got (worktree-layout.ts: `setup.started`, `setup.done`), and the setup record (setup-record.ts)
 * says what setup changed, so that it is never committed as the agent's work.
 */
import { HostFailure } from './failure';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ErrorType } from '../mission/error-types';
import type { NamespaceRequest } from '../mission/types';
import type { CommandLine } from '../mission/types';
import { CommandProgress, runCommands } from '../agents/commands';
import { withNamespace } from '../agents/namespace';
import { git } from './git';
import { clearSetupRecord, recordSetup, worktreeTree } from './setup-record';
import { SETUP_DONE, SETUP_STARTED } from './worktree-layout';

/**
 * Copies the mission's `copy` files (paths relative to the repository, e.g. `.env`) from `repo`
 * into `worktree` where the worktree lacks them; paths leaving either directory are skipped.
 */
export function copyMissionFiles(repo: string, worktree: string, copy: string[]): void {
  for (const rel of copy) {
    const from = path.resolve(repo, rel);
    const to = path.resolve(worktree, rel);
    if (!from.startsWith(repo + path.sep) || !to.startsWith(worktree + path.sep)) continue;
    if (existsSync(from) && statSync(from).isFile() && !existsSync(to)) {
      mkdirSync(path.dirname(to), { recursive: true });
      copyFileSync(from, to);
    }
  }
}

/** What {@link provision} needs to know: the mission's `copy` and `setup`, and how to run it. */
export interface ProvisionInput {
  /** The repository `copy` files come from. */
  repo: string;
  copy: string[];
  setup: CommandLine[];
  /** Limit for each setup command, ms. */
  setupTimeoutMs: number;
  /** Names of the worker's variables setup commands get besides the baseline (the mission's `env:`). */
  env?: string[];
  /** Every secret name the mission lists; the worker's redaction boundary learns them (see CommandNames). */
  redact?: string[];
  /** The task's runtime namespace, which setup runs in (src/agents/namespace.ts); absent: none. */
  namespace?: NamespaceRequest;
}

/** How a caller of {@link provision} hears about setup commands that run. */
export interface ProvisionOptions {
  /** Called about every second while a setup command runs (the caller heartbeats its own details). */
  onProgress?: (p: CommandProgress) => void;
  /** Aborted: the running setup command's group is killed (an activity's cancellation). */
  signal?: AbortSignal;
  /** `$FLOTILLA_HOME`, where the runtime namespace is reserved (absent: setup gets none). */
  home?: string;
}

/**
 * Copies the mission's `copy` files the worktree lacks (paths stay inside the repository), then
 * runs `setup` once per worktree. Around the setup commands it records the worktree's state
 * (before: `setup.started` in `stateDir` holds its tree; after: the setup record in the
 * worktree's git directory, see setup-record.ts), then writes `setup.done`. A setup cut short
 * leaves `setup.started` alone, so the next call can tell (see `setupInterrupted`). The caller
 * heartbeats: the commands report through `opts.onProgress`, and recording the state is a few
 * git commands (hashing files that are neither tracked unchanged nor ignored).
 * @throws retryable `SetupFailed` when a setup command fails, its output redacted;
 *   GitError when recording the worktree's state fails
 */
export async function provision(
  worktree: string,
  input: ProvisionInput,
  stateDir: string,
  opts: ProvisionOptions = {},
): Promise<void> {
  const { setup } = input;
  copyMissionFiles(input.repo, worktree, input.copy);
  const done = path.join(stateDir, SETUP_DONE);
  if (setup.length === 0 || existsSync(done)) return;
  mkdirSync(stateDir, { recursive: true });
  await clearSetupRecord(worktree);
  const before = await worktreeTree(worktree, input.copy);
  writeFileSync(path.join(stateDir, SETUP_STARTED), `${before}\n`);
  // With `opts.home`, setup runs in the task's runtime namespace (src/agents/namespace.ts).
  const result = await withNamespace(opts.home, input.namespace, worktree, (env) =>
    runCommands(
      {
        cwd: worktree,
        commands: setup,
        timeoutMs: input.setupTimeoutMs,
        logFile: path.join(stateDir, 'setup.log'),
        env: input.env,
        redact: input.redact,
        namespace: input.namespace,
      },
      { signal: opts.signal, onProgress: opts.onProgress, env },
    ),
  );
  if (!result.ok) {
    const f = result.failed!;
    throw HostFailure.retryable(
      `setup failed: \`${f.command}\` exited ${f.exitCode ?? '(timeout)'}\n${f.outputTail}`,
      ErrorType.SetupFailed,
    );
  }
  await recordSetup(worktree, before, await worktreeTree(worktree, input.copy));
  writeFileSync(done, new Date().toISOString());
}

/** Forgets how far setup got in a worktree that is being made again: setup runs in the new one. */
export function forgetSetup(stateDir: string): void {
  rmSync(path.join(stateDir, SETUP_DONE), { force: true });
  rmSync(path.join(stateDir, SETUP_STARTED), { force: true });
}

/**
 * Deletes a task worktree whose setup was cut short (see `setupInterrupted`), so that it is made
 * again from its branch and checkpoint and setup starts over from a clean state. No agent has run
 * in it, but a person may have: when its files (tracked and untracked, not ignored, minus `copy`)
 * are not what they were before setup (the tree `setup.started` holds), they are first kept as a
 * commit on its HEAD under `aside`. Ignored files (what setup half made, such as node_modules, and
 * copy files) go with the worktree.
 * @returns the commit kept under `aside`, or null when there was nothing to keep
 * @throws GitError when git fails
 */
export async function discardHalfProvisioned(
  worktree: string,
  stateDir: string,
  copy: string[],
  aside: string,
): Promise<string | null> {
  let kept: string | null = null;
  if (existsSync(path.join(worktree, '.git'))) {
    const before = readFileSync(path.join(stateDir, SETUP_STARTED), 'utf8').trim();
    const now = await worktreeTree(worktree, copy);
    if (now !== before) {
      const message = 'flotilla: a worktree whose setup was cut short, kept before it is made again';
      kept = (
        await git(worktree, ['commit-tree', '--no-gpg-sign', now, '-p', 'HEAD', '-m', message], { identity: true })
      ).trim();
      await git(worktree, ['update-ref', '-m', message, aside, kept]);
    }
  }
  await rm(worktree, { recursive: true, force: true });
  return kept;
}
