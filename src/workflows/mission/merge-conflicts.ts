/**
 * What the merge queue does with a merge that conflicts, by `onMergeConflict`:
 *
 * - `resolve`: the merge is set up in a conflict worktree of its own (`prepareConflict`), the
 *   resolver agent resolves it (`runAgent` with `role: 'resolver'`), and Flotilla checks the result
 *   without trusting it (`checkResolution`: markers, files outside the conflict, lines each side
 *   added; then both tasks' gates and the mission verify through `runChecks`). A rejected
 *   resolution goes back to the resolver once with the reasons; a passing one is committed onto
 *   the candidate (`commitResolution`). Twice rejected, the worktree is dropped and the mission
 *   blocks as under `pause`.
 * - `pause`: the mission blocks until a person fixes the task branch and resumes, or skips the task.
 * - `fail` (or a cancelled mission): the task ends in conflict and the mission stops.
 *
 * Every decision is made here from activity results (history records them); the conflict's entry
 * in the mission state (`ConflictState`) is what `status` and the Web UI show of it.
 */
import type { PrepareConflictResult, QueueMergeResult } from '../../activities';
import { conflictMessage, conflictReason } from '../../mission/conflict-help';
import { failureMessage } from '../../mission/failures';
import type { ConflictState } from '../../mission/progress';
import type { CommandLine, MissionSpec, NamespaceRequest } from '../../mission/types';
import type { MergeQueueActivities } from '../activities';
import { MISSION_VERIFY_COMMAND_TIMEOUT_MS, SETUP_COMMAND_TIMEOUT_MS, TASK_VERIFY_COMMAND_TIMEOUT_MS } from '../limits';
import { commands, ids, line, short } from '../summaries';
import { resolverPrompt, ResolverPromptTask } from './resolver-prompt';
import type { Mission } from './state';
import type { MergeQueueHooks } from './types';

/** `queueMerge`'s answer for a merge that conflicts. */
export type MergeConflict = Extract<QueueMergeResult, { status: 'conflict' }>;

/**
 * What became of a conflict: the resolution's merge commit on the candidate; `retry` (a person
 * fixed the task branch and resumed: merge it again); or `dropped` (the task is skipped or failed,
 * or the mission is cancelled or stopped: nothing is merged).
 */
export type ConflictOutcome = { sha: string } | 'retry' | 'dropped';

/** What conflict handling needs of the merge queue. */
export interface MergeQueueContext {
  m: Mission;
  spec: MissionSpec;
  /** The merge queue's activities on the mission's host. */
  acts: MergeQueueActivities;
  hooks: MergeQueueHooks;
  /** The mission's candidate ref, `refs/flotilla/candidates/<missionId>`. */
  candidateRef: string;
  /** Task summaries (the agents' final words), for the resolver's prompt. */
  summaries: ReadonlyMap<string, string>;
}

/** How many times the resolver agent may try one conflict (the second run gets the first's problems). */
const RESOLVER_RUNS = 2;

/** The merge queue's conflicts: each one's entry in the state, its resolution or its block. */
export class MergeConflicts {
  constructor(private readonly q: MergeQueueContext) {}

  /** The merge of `id` onto `onto` conflicted (`r`): resolve it, block on it, or give it up. */
  async onConflict(id: string, onto: string, r: MergeConflict): Promise<ConflictOutcome> {
    const { m, spec } = this.q;
    const entry = this.entry(id, r);
    const resolving = spec.policy.onMergeConflict === 'resolve' && !m.halt.cancel;
    if (resolving) {
      const sha = await new Resolution(this.q, id, onto, entry).run();
      if (sha !== null) return { sha };
    }
    return this.block(id, onto, entry, resolving);
  }

  /** The conflict's entry in the state (made on its first meeting), with what `queueMerge` said of it. */
  private entry(id: string, r: MergeConflict): ConflictState {
    const list = this.q.m.state.conflicts!;
    let entry = list.find((c) => c.taskId === id);
    if (!entry) {
      entry = { taskId: id, files: r.files, withTasks: [], state: 'resolving', attempts: 0, note: null };
      list.push(entry);
    }
    Object.assign(entry, { files: r.files, withTasks: r.withTasks ?? [], worktree: r.worktree ?? null });
    return entry;
  }

  /**
   * The conflict goes to a person: the mission blocks with a reason that names the commands that
   * resolve it (conflict-help.ts), or (`fail`, a cancelled mission) stops.
   */
  private async block(id: string, onto: string, entry: ConflictState, resolving: boolean): Promise<ConflictOutcome> {
    const { m, spec, hooks } = this.q;
    const t = m.task(id);
    const message = conflictMessage(entry.files, entry.withTasks);
    const block = m.conflict(id, message);
    if (!block) {
      entry.state = 'failed';
      entry.note ??= message;
      return 'dropped';
    }
    const { integrationBranch, integrationSha } = m.state;
    const ontoIsIntegration = onto === integrationSha;
    const resolverNote = resolving ? (entry.note ?? 'no explanation') : undefined;
    const at = { missionId: spec.id, branch: t.branch, repo: spec.repo, integrationBranch, onto, ontoIsIntegration };
    block.reason = conflictReason({ ...at, conflict: entry, resolverNote, origin: !!spec.origin });
    entry.state = 'blocked';
    if (!(await hooks.blockUntilLifted(block))) return 'dropped';
    if (m.task(id).status === 'skipped') return 'dropped';
    t.status = 'succeeded';
    t.error = null;
    return 'retry';
  }
}

/** One conflict under `resolve`: the conflict worktree, the resolver's runs, the checks, the commit. */
class Resolution {
  private prep!: PrepareConflictResult;
  /** The tasks already merged whose changes clash with this one's (still in the mission). */
  private others: string[] = [];

  constructor(
    private readonly q: MergeQueueContext,
    private readonly id: string,
    private readonly onto: string,
    private readonly entry: ConflictState,
  ) {}

  /** The merge commit of a resolution that passed every check, or null (the worktree is dropped). */
  async run(): Promise<string | null> {
    const { entry } = this;
    entry.state = 'resolving';
    entry.attempts = 0;
    entry.note = null;
    entry.startedAt = this.q.hooks.now();
    entry.endedAt = null;
    this.q.m.state.batch!.step = 'resolving';
    await this.prepare();
    if (this.prep.remaining.length === 0) {
      // rerere replayed a resolution recorded when an earlier batch merged this same conflict.
      if ((await this.check()).length === 0) {
        entry.state = 'replayed';
        entry.note = 'resolution replayed by git rerere';
        this.ended();
        return this.commit();
      }
    }
    let feedback: string[] = [];
    for (let attempt = 1; attempt <= RESOLVER_RUNS; attempt++) {
      const summary = await this.resolver(attempt, feedback);
      if (summary === null) break;
      const problems = await this.check();
      if (problems.length === 0) {
        entry.state = 'resolved';
        entry.note = summary || null;
        this.ended();
        return this.commit();
      }
      entry.state = 'rejected';
      entry.note = `resolution rejected: ${problems.join('; ').slice(0, 1500)}`;
      feedback = problems;
    }
    await this.q.acts.dropConflict
      .executeWithOptions({ summary: `drop ${this.id}'s conflict worktree` }, [
        { repo: this.q.spec.repo, worktree: this.prep.worktree },
      ])
      .catch(() => undefined);
    this.ended();
    return null;
  }

  private ended(): void {
    this.entry.endedAt = this.q.hooks.now();
  }

  /**
   * The resolver's runtime namespace on the mission host (src/agents/namespace.ts): its setup,
   * agent and checks run in it; stale once the conflict worktree is gone.
   */
  private get namespace(): NamespaceRequest {
    const { m, spec } = this.q;
    return {
      missionId: spec.id,
      taskId: this.id,
      role: 'resolver',
      runId: m.ownerRunId,
      ports: m.specOf(this.id).ports ?? 0,
    };
  }

  /** Sets the merge up in its conflict worktree (`prepareConflict`). */
  private async prepare(): Promise<void> {
    const { m, spec, acts, hooks } = this.q;
    const { id, onto } = this;
    const summary = line(`set up ${id}'s conflict onto ${short(onto)} in ${ids(this.entry.files)}`);
    this.prep = await acts.prepareConflict.executeWithOptions({ summary }, [
      {
        missionId: spec.id,
        runId: m.ownerRunId,
        repo: spec.repo,
        taskId: id,
        onto,
        branch: m.task(id).branch,
        setup: spec.setup,
        copy: spec.copy,
        setupTimeoutMs: SETUP_COMMAND_TIMEOUT_MS,
        ...hooks.commandNames,
        namespace: this.namespace,
      },
    ]);
    this.others = this.prep.otherTasks.filter((x) => m.state.tasks.some((y) => y.id === x));
  }

  /**
   * One run of the resolver agent; its summary (the agent's final words), or null when the agent
   * failed (the entry says how).
   */
  private async resolver(attempt: number, feedback: string[]): Promise<string | null> {
    const { m, spec, acts } = this.q;
    const { id, entry, prep } = this;
    entry.state = 'resolving';
    entry.attempts = attempt;
    try {
      const prompt = resolverPrompt({
        task: this.promptTask(id),
        others: this.others.map((x) => this.promptTask(x)),
        conflict: prep,
        missionVerify: spec.verify,
        feedback,
      });
      const agent = spec.resolver ?? m.specOf(id).agent;
      const conflicts = prep.remaining.length ? prep.remaining : entry.files;
      const run = await acts.runResolver.executeWithOptions(
        { summary: `resolver (${agent.runtime}) · ${id} · run ${attempt}` },
        [
          {
            missionId: spec.id,
            taskId: id,
            worktree: prep.worktree,
            branch: m.task(id).branch,
            baseSha: this.onto,
            agent,
            prompt,
            // Restated by a retried attempt's continuation prompt: the resolver's task is the prompt.
            taskPrompt: prompt,
            iteration: attempt,
            role: 'resolver',
            extraEnv: { FLOTILLA_CONFLICTS: conflicts.join('\n') },
            namespace: this.namespace,
          },
        ],
      );
      entry.costUsd = (entry.costUsd ?? 0) + (run.costUsd ?? 0);
      return run.summary;
    } catch (err) {
      entry.state = 'rejected';
      entry.note = `the resolver agent failed: ${failureMessage(err)}`;
      return null;
    }
  }

  private promptTask(id: string): ResolverPromptTask {
    const s = this.q.m.specOf(id);
    return { id, title: s.title, prompt: s.prompt, summary: this.q.summaries.get(id) ?? null, verify: s.verify };
  }

  /** The checks a resolution must pass; the problems found (empty: it passes). */
  private async check(): Promise<string[]> {
    const { id, onto, prep } = this;
    this.entry.state = 'checking';
    const r = await this.q.acts.checkResolution.executeWithOptions(
      { summary: `check ${id}'s resolution (markers, scope, both sides kept)` },
      [
        {
          taskId: id,
          worktree: prep.worktree,
          conflicted: prep.conflicted,
          onto,
          branchTip: prep.branchTip,
          mergeBase: prep.mergeBase,
        },
      ],
    );
    return r.ok ? this.gates() : r.problems;
  }

  /** Both tasks' gates and the mission verify in the conflict worktree; what failed (empty: they pass). */
  private async gates(): Promise<string[]> {
    const { m, spec, acts, hooks } = this.q;
    const gates: CommandLine[] = [
      ...m.specOf(this.id).verify,
      ...this.others.flatMap((x) => m.specOf(x).verify),
      ...spec.verify,
    ];
    if (gates.length === 0) return [];
    const g = await acts.runChecks.executeWithOptions(
      { summary: line(`gates of ${this.id}'s resolution: ${commands(gates)}`) },
      [
        {
          cwd: this.prep.worktree,
          commands: gates,
          timeoutMs: Math.max(TASK_VERIFY_COMMAND_TIMEOUT_MS, MISSION_VERIFY_COMMAND_TIMEOUT_MS),
          logFile: `${this.prep.worktree}.verify.log`,
          ...hooks.commandNames,
          namespace: this.namespace,
        },
      ],
    );
    if (g.ok) return [];
    const f = g.failed!;
    return [`\`${f.command}\` failed (exit ${f.exitCode ?? 'timeout'}):\n${f.outputTail.trim()}`];
  }

  /** Commits the resolution onto the candidate (compare-and-swap); the merge commit. */
  private async commit(): Promise<string> {
    const { m, spec, acts, hooks, candidateRef } = this.q;
    const { id, onto, prep } = this;
    const t = m.task(id);
    const { sha } = await acts.commitResolution.executeWithOptions(
      { summary: `commit ${id}'s resolution onto ${short(onto)}` },
      [
        {
          repo: spec.repo,
          worktree: prep.worktree,
          taskId: id,
          title: t.title,
          onto,
          branchTip: prep.branchTip,
          conflicted: prep.conflicted,
          ref: candidateRef,
          expected: m.state.candidateTip ?? null,
          date: hooks.now(),
        },
      ],
    );
    m.state.candidateTip = sha;
    m.state.batch!.step = 'merging';
    t.headSha = prep.branchTip;
    this.ended();
    return sha;
  }
}
