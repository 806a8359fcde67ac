/**
 * The steps of `missionWorkflow`: set up on the repository's host, run a wave's tasks as child
 * workflows, merge them, verify, end. The rules each step applies live in {@link Mission}; this
 * module performs them with Temporal (children, activities, scopes, search attributes).
 */
import {
  CancellationScope,
  condition,
  isCancellation,
  patched,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { taskDetails, taskSummary } from '../mission/describe';
import { failureMessage } from '../mission/failures';
import type { MissionProgress } from '../mission/progress';
import { taskStartAttributes } from '../mission/search';
import { withoutUrlCredentials } from '../mission/url-credentials';
import { missionCurrentDetails } from '../mission/story';
import { MissionPhase, MissionSpec, names, SEARCH_ATTRIBUTE_KEYS } from '../mission/types';
import { KeptAttributes, keepCurrentDetails, keepSearchAttributes } from './details';
import { reportMergeQueue } from './queue-metrics';
import { commands, line, short } from './summaries';
import { anyWorker } from './activities';
import { MissionHost } from './mission-host';
import { holdSignal } from './messages';
import type { MissionEffects } from './mission-handlers';
import { Block, Mission, TaskOutcome } from './mission-state';
import { CommandNames, commandNamesOf } from './mission-types';
import { MISSION_VERIFY_COMMAND_TIMEOUT_MS } from './limits';
import { TaskInput, taskWorkflow } from './task';

export class MissionSteps {
  /** Each running task's scope: cancelling it cancels the child workflow. */
  private readonly scopes = new Map<string, CancellationScope>();
  /** Every task still in flight, so a cancelled mission can wait for its children to stop. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Host claim and integration setup; cancelled by `cancel` (the claim may wait for a worker). */
  private readonly setupScope = new CancellationScope();
  private host!: ReturnType<MissionHost['mission']>;
  /** The mission's host and its activities (replaced when it is lost, for missions with an origin). */
  readonly hostActs: MissionHost;

  /** What the mission's commands get by name, and every secret name it lists (see CommandNames). */
  readonly commandNames: CommandNames;
  /** Progress and cost kept current as search attributes (missions started with them). */
  private readonly attributes: KeptAttributes | null;

  constructor(
    private readonly m: Mission,
    private readonly spec: MissionSpec,
    private readonly searchAttributes: boolean,
    private readonly storyAttributes = false,
  ) {
    this.commandNames = commandNamesOf(spec);
    this.hostActs = new MissionHost(m, spec, this.commandNames);
    // What the Web UI shows on the mission's page while it runs (memory, not history).
    keepCurrentDetails(() => missionCurrentDetails(m.progress()));
    // Versioning: missions recorded before the story attributes never upserted progress or cost.
    this.attributes =
      // Both sets: the keeper upserts the phase too, which an old client may not have registered.
      searchAttributes && storyAttributes && patched('story-attributes')
        ? keepSearchAttributes(() => {
            const p = m.progress();
            return [
              // The phase people see (blocked, paused included), not only the workflow's own.
              { key: SEARCH_ATTRIBUTE_KEYS.phase, value: p.phase },
              { key: SEARCH_ATTRIBUTE_KEYS.progress, value: p.percent },
              // Cents: history gets an upsert per cent spent at most, not one per token.
              { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: Math.round(p.costUsd * 100) / 100 },
            ];
          })
        : null;
  }

  /** Upserts progress and cost now if they changed: before the run ends or continues as new. */
  flushAttributes(): void {
    this.attributes?.flush();
  }

  /** What the message handlers may ask for. */
  readonly effects: MissionEffects = {
    cancelTask: (id) => this.scopes.get(id)?.cancel(),
    cancelAll: () => {
      this.setupScope.cancel();
      this.cancelRunning();
    },
    now: () => now(),
  };

  /** Sets the phase; the search attribute is upserted even when it does not change (history). */
  setPhase(phase: MissionPhase): void {
    this.m.state.phase = phase;
    // Missions with the story attributes keep the phase with progress and cost, upserted when it changes.
    if (this.searchAttributes && !this.attributes)
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.phase, value: phase }]);
  }

  private cancelRunning(): void {
    for (const scope of this.scopes.values()) scope.cancel();
  }

  /**
   * Called when a task's end is recorded (the merge queue enqueues what succeeded).
   * Set by the queue's story; the wave loop merges after the wave instead.
   */
  onTaskEnded: ((id: string, outcome: TaskOutcome) => void) | null = null;

  /**
   * Claims the repository's host and prepares the integration branch and worktree there;
   * `detached`: the worktree's HEAD is detached (the merge queue moves the branch with update-ref).
   */
  async setup(detached = false): Promise<void> {
    const { m, spec } = this;
    const integration = await this.setupScope.run(async () => {
      // With a shared origin any host may hold the integration worktree, but once one does (a run
      // continued as new carries it) the mission stays there.
      if (!spec.origin || !m.state.hostQueue || !m.state.hostRepo) {
        const claim = await anyWorker.claimHost.executeWithOptions(
          {
            summary: line(
              spec.origin ? `claim a host for ${withoutUrlCredentials(spec.origin)}` : `claim the host of ${spec.repo}`,
            ),
          },
          [{ repo: spec.repo, ...(spec.origin ? { origin: spec.origin } : {}) }],
        );
        m.state.hostQueue = claim.taskQueue;
        if (spec.origin) m.state.hostRepo = claim.repo;
      }
      // The mission's activities work in the host's clone of the origin.
      if (spec.origin && m.state.hostRepo) spec.repo = m.state.hostRepo;
      this.hostActs.detached = detached;
      this.host = this.hostActs.mission();
      const summary = line(`${m.state.integrationBranch} from ${spec.base}${detached ? ' (detached worktree)' : ''}`);
      return this.host.prepareIntegration.executeWithOptions({ summary }, [this.hostActs.integrationInput()]);
    });
    m.state.baseSha = integration.baseSha;
    m.state.integrationWorktree = integration.worktree;
    m.state.integrationSha = integration.headSha;
    this.setPhase('running');
  }

  /** Starts the wave's tasks, at most `concurrency` at once and none while paused, and waits for all. */
  async runWave(w: number): Promise<void> {
    const { m } = this;
    const started: Promise<void>[] = [];
    for (const id of m.state.waves[w].taskIds) {
      await condition(() => m.mayStartTask());
      if (m.halt.halted) break;
      if (m.startable(id) !== 'start') continue;
      const run = this.runTask(id);
      this.inFlight.add(run);
      void run.finally(() => this.inFlight.delete(run));
      started.push(run);
    }
    await Promise.all(started);
  }

  /** Starts one task (the merge queue's scheduler); it is tracked like a wave's task. */
  launch(id: string, extra: Pick<TaskInput, 'fix'> & { baseSha?: string } = {}): Promise<void> {
    const run = this.runTask(id, extra);
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
    return run;
  }

  /** One task as a child workflow, from start to its recorded end. */
  private async runTask(id: string, extra: Pick<TaskInput, 'fix'> & { baseSha?: string } = {}): Promise<void> {
    const { m, spec } = this;
    // Where a placed task last ran (its session is there), before it starts again.
    const lastHost = m.state.tasks.find((t) => t.id === id)?.host ?? null;
    const retry = m.taskStarting(id, now());
    const scope = new CancellationScope();
    this.scopes.set(id, scope);
    let outcome: TaskOutcome;
    try {
      const result = await scope.run(async () => {
        const child = await startChild(taskWorkflow, {
          workflowId: names.taskWorkflowId(spec.id, id),
          taskQueue: workflowInfo().taskQueue,
          args: [
            {
              missionId: spec.id,
              runId: m.ownerRunId,
              repo: spec.repo,
              hostQueue: m.state.hostQueue!,
              ...(spec.origin ? { origin: spec.origin } : {}),
              ...(spec.origin && lastHost ? { lastHost } : {}),
              ...(spec.origin && spec.hostLostAfterMs ? { hostLostAfterMs: spec.hostLostAfterMs } : {}),
              baseSha: extra.baseSha ?? m.state.integrationSha!,
              task: m.specOf(id),
              setup: spec.setup,
              copy: spec.copy,
              ...this.commandNames,
              ...(retry ? { retry } : {}),
              ...(extra.fix ? { fix: extra.fix } : {}),
              ...(this.storyAttributes ? { storyAttributes: true } : {}),
            },
          ],
          // What the Web UI shows for the task: a line in the list, its prompt and gate on its page.
          staticSummary: taskSummary(m.specOf(id)),
          staticDetails: taskDetails(m.specOf(id)),
          typedSearchAttributes: taskStartAttributes(
            spec,
            m.specOf(id),
            { searchAttributes: this.searchAttributes, storyAttributes: this.storyAttributes },
            retry?.usage.costUsd,
          ),
        });
        m.childStarted.add(id);
        // `pause --now` that came while the child was starting could not reach it then.
        if (m.held.has(id)) await child.signal(holdSignal);
        return child.result();
      });
      outcome = { kind: 'result', result };
    } catch (err) {
      outcome = isCancellation(err) ? { kind: 'cancelled' } : { kind: 'error', message: failureMessage(err) };
    } finally {
      this.scopes.delete(id);
    }
    m.taskEnded(id, outcome, now());
    if (m.task(id).status === 'failed' && m.taskFailed(id)) this.cancelRunning();
    this.onTaskEnded?.(id, outcome);
  }

  /** Merges the wave's succeeded tasks in task order; returns the ids merged by this pass. */
  async mergeWave(w: number): Promise<string[]> {
    const { m, spec } = this;
    const merged: string[] = [];
    this.setPhase('merging');
    m.state.waves[w].status = 'merging';
    for (const id of m.state.waves[w].taskIds) {
      const t = m.task(id);
      if (t.status !== 'succeeded' || m.halt.cancel) continue;
      for (;;) {
        m.merging = id;
        const summary = line(`merge ${t.branch} into ${m.state.integrationBranch}`);
        const r = await this.host.mergeBranch.executeWithOptions({ summary }, [
          { worktree: m.state.integrationWorktree!, repo: spec.repo, branch: t.branch, taskId: id, title: t.title },
        ]);
        m.merging = null;
        if (r.status === 'merged') {
          m.merged(id, r.sha);
          merged.push(id);
          break;
        }
        const block = m.conflict(id, r.message);
        if (!block || !(await this.blockUntilLifted(block))) break;
        // `flotilla skip` gave up on the conflicting task: its dependents were skipped with it.
        if (m.task(id).status === 'skipped') break;
        t.status = 'succeeded';
      }
    }
    return merged;
  }

  /** Runs the mission verify on the integration branch; applies `onVerifyFailure` when it fails. */
  async verifyWave(w: number, preWaveSha: string, mergedNow: string[]): Promise<void> {
    const { m, spec } = this;
    if (m.halt.cancel) return;
    if (spec.verify.length === 0 || !m.state.waves[w].taskIds.some((id) => m.task(id).status === 'merged')) return;
    m.state.waves[w].status = 'verifying';
    for (;;) {
      const summary = line(`verify ${commands(spec.verify)} on wave ${w}`);
      const r = await this.host.runChecks.executeWithOptions({ summary }, [
        {
          cwd: m.state.integrationWorktree!,
          commands: spec.verify,
          timeoutMs: MISSION_VERIFY_COMMAND_TIMEOUT_MS,
          logFile: `${m.state.integrationWorktree}.verify.log`,
          ...this.commandNames,
        },
      ]);
      if (r.ok) return;
      const f = r.failed!;
      const why = `mission verify \`${f.command}\` failed after wave ${w} (exit ${f.exitCode ?? 'timeout'})`;
      const policy = spec.policy.onVerifyFailure;
      if (policy === 'pause') {
        const reason = `${why}; fix ${m.state.integrationBranch}, then \`flotilla resume ${spec.id}\``;
        if (await this.blockUntilLifted({ kind: 'verify', reason })) continue;
        return;
      }
      if (policy === 'revert') {
        const summary = line(`reset ${m.state.integrationBranch} to ${short(preWaveSha)}: wave ${w} failed verify`);
        await this.host.resetIntegration.executeWithOptions({ summary }, [
          { worktree: m.state.integrationWorktree!, repo: spec.repo, sha: preWaveSha },
        ]);
        // Only what this pass merged was reverted (a wave run again after a retry keeps the rest).
        m.reverted(mergedNow, preWaveSha, why);
        return;
      }
      m.halt.stopFor(`${why} (onVerifyFailure: fail)`);
      return;
    }
  }

  /** Waits until the block is lifted (`resume`, or a skip of its task) or the mission is cancelled. */
  async blockUntilLifted(block: Block): Promise<boolean> {
    const { m } = this;
    m.halt.blockOn(block);
    await condition(() => m.halt.block === null || m.halt.cancel !== null);
    return m.halt.unblocked();
  }

  /** After a workflow cancellation request: wait until every child has stopped its agent. */
  async childrenStopped(): Promise<void> {
    await CancellationScope.nonCancellable(() => Promise.all([...this.inFlight]));
  }

  /** Settles the state for the end and sets the final phase; returns the final progress. */
  end(): MissionProgress {
    this.setPhase(this.m.finish(now()));
    this.flushAttributes();
    // An ended mission's queue gauge says 0, not what it held when it stopped.
    if (this.m.state.mergeQueue) reportMergeQueue(this.spec.id, { queue: [], batch: null });
    return this.m.progress();
  }

  /** An error that ends the setup or the loop (e.g. an activity out of retries). */
  stopOn(err: unknown): void {
    this.m.halt.stopFor(failureMessage(err));
  }
}

/** Workflow time as ISO-8601 (deterministic in the sandbox). */
export const now = (): string => new Date().toISOString();
