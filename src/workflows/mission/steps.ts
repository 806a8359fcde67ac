/**
 * The steps of `missionWorkflow`: set up on the repository's host, run a task as a child workflow,
 * wait on a block, end. The rules each step applies live in {@link Mission}; this module performs
 * them with Temporal (children, activities, scopes, search attributes).
 */
import { CancellationScope, condition, isCancellation, startChild, workflowInfo } from '@temporalio/workflow';
import { taskDetails, taskSummary } from '../../mission/describe';
import { failureMessage } from '../../mission/failures';
import type { MissionProgress } from '../../mission/progress';
import { taskStartAttributes } from '../../mission/search';
import { withoutUrlCredentials } from '../../mission/url-credentials';
import { missionCurrentDetails } from '../../mission/current-details';
import { MissionPhase, MissionSpec, names, SEARCH_ATTRIBUTE_KEYS } from '../../mission/types';
import { KeptAttributes, keepCurrentDetails, keepSearchAttributes } from '../details';
import { reportMergeQueue } from './merge-queue-metrics';
import { line } from '../summaries';
import { anyWorker } from '../activities';
import { MissionHost } from './host';
import { MissionNotifier } from './notify';
import { holdSignal } from '../messages';
import type { MissionEffects } from './handlers';
import type { Mission } from './state';
import { Block, CommandNames, commandNamesOf, TaskOutcome } from './types';
import { type TaskInput, taskWorkflow } from '../task';

export class MissionSteps {
  /** Each running task's scope: cancelling it cancels the child workflow. */
  private readonly scopes = new Map<string, CancellationScope>();
  /** Every task still in flight, so a cancelled mission can wait for its children to stop. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Host claim and integration setup; cancelled by `cancel` (the claim may wait for a worker). */
  private readonly setupScope = new CancellationScope();
  /** The mission's host and its activities (replaced when it is lost, for missions with an origin). */
  readonly hostActs: MissionHost;

  /** What the mission's commands get by name, and every secret name it lists (see CommandNames). */
  readonly commandNames: CommandNames;
  /** The mission's `notify:` targets (notify.ts). */
  readonly notifier: MissionNotifier;
  /** Phase, progress and cost kept current as search attributes. */
  private readonly attributes: KeptAttributes;

  constructor(
    private readonly m: Mission,
    private readonly spec: MissionSpec,
  ) {
    this.commandNames = commandNamesOf(spec);
    this.hostActs = new MissionHost(m, spec, this.commandNames);
    this.notifier = new MissionNotifier(m, spec, this.commandNames);
    // What the Web UI shows on the mission's page while it runs (memory, not history).
    keepCurrentDetails(() => missionCurrentDetails(m.progress()));
    this.attributes = keepSearchAttributes(() => {
      const p = m.progress();
      return [
        // The phase people see (blocked, paused included), not only the workflow's own.
        { key: SEARCH_ATTRIBUTE_KEYS.phase, value: p.phase },
        { key: SEARCH_ATTRIBUTE_KEYS.progress, value: p.percent },
        // Cents: history gets an upsert per cent spent at most, not one per token.
        { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: Math.round(p.costUsd * 100) / 100 },
      ];
    });
  }

  /** Upserts progress and cost now if they changed: before the run ends or continues as new. */
  flushAttributes(): void {
    this.attributes.flush();
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

  /** Sets the phase (the search attribute follows when the phase people see changes: see `attributes`). */
  setPhase(phase: MissionPhase): void {
    this.m.state.phase = phase;
  }

  private cancelRunning(): void {
    for (const scope of this.scopes.values()) scope.cancel();
  }

  /** Called when a task's end is recorded (set by the main loop: what succeeded enters the merge queue). */
  onTaskEnded: ((id: string, outcome: TaskOutcome) => void) | null = null;

  /**
   * Claims the repository's host and prepares the integration branch and its worktree there (its
   * HEAD detached: the merge queue moves the branch with update-ref).
   */
  async setup(): Promise<void> {
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
      const summary = line(`${m.state.integrationBranch} from ${spec.base}`);
      return this.hostActs
        .mission()
        .prepareIntegration.executeWithOptions({ summary }, [this.hostActs.integrationInput()]);
    });
    m.state.baseSha = integration.baseSha;
    m.state.integrationWorktree = integration.worktree;
    m.state.integrationSha = integration.headSha;
    this.setPhase('running');
  }

  /** Starts one task (the merge queue's scheduler), tracked until its end is recorded. */
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
            },
          ],
          // What the Web UI shows for the task: a line in the list, its prompt and gate on its page.
          staticSummary: taskSummary(m.specOf(id)),
          staticDetails: taskDetails(m.specOf(id)),
          typedSearchAttributes: taskStartAttributes(spec, m.specOf(id), retry?.usage.costUsd),
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

  /** Waits until the block is lifted (`resume`, or a skip of its task) or the mission is cancelled. */
  async blockUntilLifted(block: Block): Promise<boolean> {
    const { m } = this;
    m.halt.blockOn(block);
    void this.notifier.send('blocked', block.reason);
    await condition(() => m.halt.block === null || m.halt.cancel !== null);
    return m.halt.unblocked();
  }

  /** After a cancellation: wait until every child has stopped its agent. */
  async childrenStopped(): Promise<void> {
    await CancellationScope.nonCancellable(() => Promise.all([...this.inFlight]));
  }

  /** Settles the state for the end and sets the final phase; returns the final progress. */
  end(): MissionProgress {
    this.setPhase(this.m.finish(now()));
    this.flushAttributes();
    // An ended mission's merge queue gauge says 0, not what it held when it stopped.
    reportMergeQueue(this.spec.id, { queue: [], batch: null });
    return this.m.progress();
  }

  /** An error that ends the setup or the loop (e.g. an activity out of retries). */
  stopOn(err: unknown): void {
    this.m.halt.stopFor(failureMessage(err));
  }
}

/** Workflow time as ISO-8601 (deterministic in the sandbox). */
export const now = (): string => new Date().toISOString();
