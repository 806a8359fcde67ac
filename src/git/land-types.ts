/**
 * The shapes of a landing (land.ts): its input, its result, what it needs from
 * where it runs.
 */
import type { Diffstat } from '../mission/progress';
import type { CommandLine, LandMode, Runtime } from '../mission/types';
import type { ChecksResult, CommandProgress } from '../agents/commands';

/** How a mission lands (the mission file's `land:` without `none`). */
export type LandingMode = Exclude<LandMode, 'none'>;

/** A merged task, as landing checks it and the pull request describes it. */
export interface LandTask {
  id: string;
  title: string;
  /** The task branch, short name (`flotilla/<mission>/tasks/<task>`). */
  branch: string;
  /** For the description: the agent that did the work, what it cost (USD) and what it changed. */
  runtime?: Runtime;
  model?: string;
  costUsd?: number;
  diffstat?: Diffstat | null;
}

/**
 * What the pull request description shows besides the tasks. The resolver's decisions and the
 * verify history come from the mission's progress when its workflow records them (their shape is
 * the workflow's; each entry is shown as its fields).
 */
export interface LandNotes {
  /** Tasks that ended unmerged (a `--partial` landing), with their status. */
  notMerged?: Array<{ id: string; title: string; status: string }>;
  conflicts?: unknown[];
  verifyRuns?: unknown[];
}

/** The input of {@link landMission} and of the `landMission` activity. Every SHA is a full hex id. */
export interface LandMissionInput {
  missionId: string;
  /** Absolute path of the repository (on the host that runs the landing). */
  repo: string;
  baseBranch: string;
  /** The base branch's SHA when the mission started (progress `baseSha`). */
  baseSha: string;
  /** Short name, `flotilla/<mission>/integration`. */
  integrationBranch: string;
  /** The integration branch's SHA the mission ended with (progress `integrationSha`). */
  integrationSha: string;
  /** The merged tasks (all of them for a completed mission). */
  tasks: LandTask[];
  /** The mission verify, run on a candidate that merges a moved base (empty: none). */
  verify: CommandLine[];
  /** Limit for each verify (and setup) command, ms. */
  verifyTimeoutMs: number;
  /**
   * Flotilla's own integration worktree (under `$FLOTILLA_HOME/worktrees/`), where the verify runs
   * detached (re-created when it is gone). Never a person's checkout: land refuses a path
   * outside `$FLOTILLA_HOME/worktrees/`.
   */
  integrationWorktree: string;
  /** The mission's `setup`, run only in an integration worktree the landing had to re-create. */
  setup?: CommandLine[];
  /** Names of the worker's variables the verify commands get besides the baseline (the mission's `env:`). */
  env?: string[];
  /** Every secret name the mission lists; the worker's redaction boundary learns them (see CommandNames). */
  redact?: string[];
  mode: LandingMode;
  /** `push`/`pr`: the remote; default the base branch's configured remote, else `origin`. */
  remote?: string;
  /**
   * Author and committer date of a candidate merge commit (ISO-8601; the workflow passes workflow
   * time so a retried activity makes the same commit). Default: now.
   */
  date?: string;
  notes?: LandNotes;
}

/** The pull request of a `pr` landing. */
export interface LandPr {
  /** The Markdown description, under `$FLOTILLA_HOME/land/<mission>/`. */
  descriptionFile: string;
  /** The `gh pr create` argv (run, or to run when `gh` is not on PATH). */
  command: string[];
  /** Whether `gh` created it (false: not on PATH, or it failed: see `error`). */
  created: boolean;
  /** What `gh` printed: the pull request's URL. */
  url: string | null;
  error: string | null;
}

export type LandResult =
  | {
      status: 'landed';
      /** The commit the base branch (or the pushed branch) now holds. */
      landed: string;
      mode: LandingMode;
      base: string;
      /** The base branch's tip before (local for `ff`, the remote's for `push`/`pr`; null: it had none). */
      baseBefore: string | null;
      /** The base had moved: `landed` is a candidate that merges it (verified when `verified`). */
      baseMerged: boolean;
      /** The mission verify ran on `landed` (and passed). */
      verified: boolean;
      /** The base already contained the mission's work: nothing moved. */
      alreadyLanded: boolean;
      /** `ff`: the worktree whose checkout was fast-forwarded, or null (the ref alone moved). */
      checkout: string | null;
      remote: string | null;
      /** `push`/`pr`: the remote branches pushed (short names). */
      pushed: string[];
      pr: LandPr | null;
      /** The merged task ids landed. */
      tasks: string[];
    }
  | {
      /** A person must act (a conflict with the moved base, a checkout with changes): exit 3. */
      status: 'needs-human';
      /**
       * `conflict`: the moved base conflicts with the integration branch; `dirty-checkout`: the
       * base's checkout has changes; `checkout-refused`: git refused to fast-forward it;
       * `operation-in-progress`: a rebase, merge, cherry-pick, revert or bisect works on the base
       * in a worktree; `integration-in-use`: a checkout of the integration branch has uncommitted
       * changes or an operation in progress (someone is working on it); `verify-worktree`:
       * Flotilla's own worktree, where the verify runs, holds something land must not discard.
       */
      reason:
        | 'conflict'
        | 'dirty-checkout'
        | 'checkout-refused'
        | 'operation-in-progress'
        | 'integration-in-use'
        | 'verify-worktree';
      message: string;
      files: string[];
    }
  | {
      /** It cannot land as it is: exit 1. */
      status: 'failed';
      reason:
        | 'missing-tasks'
        | 'verify-failed'
        | 'base-missing'
        | 'base-moved'
        | 'integration-missing'
        | 'integration-rewritten'
        | 'push-rejected';
      message: string;
      /** `missing-tasks`: the tasks whose work is not in the integration branch. */
      missing?: string[];
      /** `verify-failed`: the command and the tail of its output. */
      verify?: ChecksResult['failed'];
    };

export type Failed = Extract<LandResult, { status: 'failed' }>;
export type NeedsHuman = Extract<LandResult, { status: 'needs-human' }>;

/** What {@link landMission} needs from where it runs. */
export interface LandOptions {
  /** `$FLOTILLA_HOME`: the verify log and the pull request description go under it. */
  home: string;
  /** Called about every second while a setup or verify command runs (an activity heartbeats it). */
  onProgress?: (p: CommandProgress) => void;
  /** Aborted: the running setup or verify command's group is killed (an activity's cancellation). */
  signal?: AbortSignal;
  /**
   * The command that runs this landing again, as the advice prints it (default `flotilla land
   * <id>` with the mode's flags); the CLI passes the flags it was given.
   */
  rerun?: string;
}
