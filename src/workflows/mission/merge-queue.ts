/**
 * The mission's merge queue: a task that succeeds enters it at once; the queue takes everything
 * waiting as one batch, merges it onto the candidate ref without a worktree (merge-tree,
 * commit-tree, update-ref), runs the mission verify on the candidate, and moves the integration
 * branch only to verified commits. A failing batch is verified once more (flaky commands), then
 * bisected over its merges to find the culprit; what merged before it lands, what came after it
 * goes back to the front of the queue, and `onVerifyFailure` decides the culprit's fate. A
 * conflict goes by `onMergeConflict` to the resolver agent, a person or the mission's end
 * (merge-conflicts.ts).
 *
 * Everything is decided here, in workflow code, from activity results: a batch holds the
 * tasks that ended while the batch before ran (history records it), in the mission file's order.
 */
import { condition, workflowInfo } from '@temporalio/workflow';
import { MAX_VERIFY_RUNS, VerifyRun } from '../../mission/progress';
import { bisectNext, refreshWaves } from '../../mission/schedule';
import type { MissionSpec } from '../../mission/types';
import { MergeQueueActivities, mergeQueueHost } from '../activities';
import { MISSION_VERIFY_COMMAND_TIMEOUT_MS } from '../limits';
import { commands, ids, line, short } from '../summaries';
import { mergeSome } from './merge-batch';
import { MergeConflicts, MergeQueueContext } from './merge-conflicts';
import { reportMergeQueue } from './merge-queue-metrics';
import type { Mission } from './state';
import type { MergeQueueHooks } from './types';

/** A merge on the candidate: the task and the commit whose first-parent chain holds it. */
interface Link {
  id: string;
  sha: string;
  /** The commit the merge went onto. */
  onto: string;
}

/** A failed mission verify: the command, its exit code (null: timed out) and its output's tail. */
type VerifyFailure = { command: string; exitCode: number | null; outputTail: string };

/** One mission's merge queue (see above); its state lives in the mission state (`queue`, `batch`, `conflicts`...). */
export class MergeQueue {
  private readonly acts: MergeQueueActivities;
  /** Set when the queue must not start another batch (cancel, a stop that ends merging). */
  closed = false;
  /** Worktree removals in flight; the queue waits for them before it returns. */
  private readonly cleanups: Promise<void>[] = [];
  /** Task summaries (the agents' final words), for the resolver's prompt. */
  readonly summaries = new Map<string, string>();
  /** What the queue's helpers (merge-batch.ts, merge-conflicts.ts) need of it. */
  private readonly context: MergeQueueContext;
  /** What a merge that conflicts goes to (merge-conflicts.ts). */
  private readonly conflicts: MergeConflicts;

  constructor(
    private readonly m: Mission,
    private readonly spec: MissionSpec,
    /** The mission host's activities (`MissionHost.mergeQueue()`: they follow the host if it moves). */
    acts: MergeQueueActivities,
    private readonly hooks: MergeQueueHooks,
  ) {
    this.acts = acts;
    const { candidateRef, summaries } = this;
    this.context = { m, spec, acts, hooks, candidateRef, summaries };
    this.conflicts = new MergeConflicts(this.context);
    const s = m.state;
    s.queue ??= [];
    s.batch ??= null;
    s.batches ??= 0;
    s.conflicts ??= [];
    s.verifyRuns ??= [];
    s.fixes ??= {};
    s.fixRequests ??= {};
    s.candidateTip ??= null;
  }

  /** A task's place in the mission file (an index built once: a batch may hold hundreds). */
  private order(id: string): number {
    this.places ??= new Map(this.spec.tasks.map((t, i) => [t.id, i]));
    return this.places.get(id) ?? -1;
  }
  private places?: Map<string, number>;

  private get candidateRef(): string {
    return `refs/flotilla/candidates/${this.spec.id}`;
  }

  /** Whether nothing waits and no batch is in flight. */
  get idle(): boolean {
    return this.m.state.queue!.length === 0 && !this.m.state.batch;
  }

  /** A task succeeded: it joins the queue. */
  enqueue(id: string, summary: string | undefined): void {
    if (summary) this.summaries.set(id, summary);
    this.m.state.queue!.push(id);
    reportMergeQueue(this.spec.id, this.m.state);
  }

  /** Takes one batch after another until `stopWhen` says the mission is done with merging. */
  async run(stopWhen: () => boolean): Promise<void> {
    const s = this.m.state;
    for (;;) {
      await condition(() => this.closed || s.queue!.length > 0 || stopWhen());
      if (this.closed || s.queue!.length === 0) {
        await Promise.all(this.cleanups);
        return;
      }
      // A batch merges in the mission file's order, whatever order its tasks finished in.
      const ids = s.queue!.splice(0, s.queue!.length).sort((a, b) => this.order(a) - this.order(b));
      await this.batch(ids);
    }
  }

  /** One batch: merge each task onto the candidate, verify, bisect on failure, publish what passed. */
  private async batch(ids: string[]): Promise<void> {
    const { m } = this;
    const s = m.state;
    const index = (s.batches = (s.batches ?? 0) + 1);
    s.batch = { index, taskIds: [...ids], step: 'merging', candidateSha: s.integrationSha };
    this.hooks.setPhase('merging');
    refreshWaves(s);
    const chain: Link[] = [];
    let tip = s.integrationSha!;
    // A cancelled mission leaves what is not merged yet succeeded and unmerged (it reports them so).
    for (let todo = ids; todo.length > 0 && !m.halt.cancel;) {
      todo = todo.filter((id) => m.task(id).status === 'succeeded'); // skipped while it waited
      if (todo.length === 0) break;
      const r = await mergeSome(this.context, todo, tip);
      for (const x of r.merged) {
        chain.push({ id: x.taskId, sha: x.sha, onto: tip });
        tip = s.batch.candidateSha = x.sha;
      }
      // No mission verify: the merge moved the integration branch itself, so its tasks are merged
      // now, not after a conflict further on is resolved (which may wait for a person).
      if (r.published && chain.length > 0) await this.publish(chain.splice(0));
      todo = todo.slice(r.merged.length);
      if (!r.conflict) break;
      const outcome = await this.conflicts.onConflict(todo[0], tip, r.conflict);
      if (outcome === 'retry') continue;
      if (outcome !== 'dropped') {
        chain.push({ id: todo[0], sha: outcome.sha, onto: tip });
        tip = s.batch.candidateSha = outcome.sha;
      }
      todo = todo.slice(1);
    }
    const verdict = await this.verify(index, chain);
    if (verdict.good.length > 0) await this.publish(verdict.good);
    if (verdict.culprit) await this.culprit(verdict.culprit, verdict.failed!, verdict.rest);
    s.batch = null;
    reportMergeQueue(this.spec.id, s);
    refreshWaves(s);
    this.hooks.setPhase('running');
  }

  /**
   * Verifies the candidate; on failure once more (flaky commands), then bisects over the batch's
   * prefixes for the first merge whose prefix fails. `good` is the verified prefix to publish.
   */
  private async verify(
    batch: number,
    chain: Link[],
  ): Promise<{ good: Link[]; culprit?: Link; failed?: VerifyFailure; rest: string[] }> {
    const { spec } = this;
    if (chain.length === 0 || spec.verify.length === 0) return { good: chain, rest: [] };
    // A cancelled mission publishes nothing it has not verified: its merges stay on the candidate.
    if (this.m.halt.cancel) return { good: [], rest: [] };
    this.m.state.batch!.step = 'verifying';
    let failed = await this.verifyRun(batch, chain, chain.length - 1, 'batch');
    if (failed === null) return { good: chain, rest: [] };
    failed = await this.verifyRun(batch, chain, chain.length - 1, 'rerun');
    if (failed === null) return { good: chain, rest: [] };
    // The prefix ending at `hi` fails; prefixes before `lo` pass (the integration branch itself passed).
    this.m.state.batch!.step = 'bisecting';
    let lo = 0;
    let hi = chain.length - 1;
    for (let mid = bisectNext(lo, hi); mid !== null; mid = bisectNext(lo, hi)) {
      const f = await this.verifyRun(batch, chain, mid, 'bisect');
      if (f === null) lo = mid + 1;
      else {
        hi = mid;
        failed = f;
      }
    }
    return {
      good: chain.slice(0, lo),
      culprit: chain[lo],
      failed,
      rest: chain.slice(lo + 1).map((l) => l.id),
    };
  }

  /** One mission verify run on the prefix ending at `chain[i]`; null when it passes, else what failed. */
  private async verifyRun(
    batch: number,
    chain: Link[],
    i: number,
    kind: VerifyRun['kind'],
  ): Promise<VerifyFailure | null> {
    const { m, spec } = this;
    const what = kind === 'batch' ? '' : kind === 'rerun' ? ' (rerun: flaky?)' : ` (bisect: through ${chain[i].id})`;
    const summary = line(`verify ${commands(spec.verify)} on batch ${batch}${what} at ${short(chain[i].sha)}`);
    const r = await this.acts.verifyAt.executeWithOptions({ summary }, [
      {
        repo: spec.repo,
        worktree: m.state.integrationWorktree!,
        sha: chain[i].sha,
        commands: spec.verify,
        timeoutMs: MISSION_VERIFY_COMMAND_TIMEOUT_MS,
        logFile: `${m.state.integrationWorktree}.verify.log`,
        ...this.hooks.commandNames,
        namespace: { missionId: spec.id, runId: m.ownerRunId, ports: spec.ports ?? 0 },
      },
    ]);
    const runs = m.state.verifyRuns!;
    runs.push({
      batch,
      sha: chain[i].sha,
      taskIds: chain.slice(0, i + 1).map((l) => l.id),
      kind,
      ok: r.ok,
      failed: r.ok ? null : `${r.failed!.command} (exit ${r.failed!.exitCode ?? 'timeout'})`,
    });
    if (runs.length > MAX_VERIFY_RUNS) runs.splice(0, runs.length - MAX_VERIFY_RUNS);
    return r.ok ? null : r.failed!;
  }

  /** Moves the integration branch to the last verified merge; the tasks are merged, their worktrees removed. */
  private async publish(good: Link[]): Promise<void> {
    const { m, spec } = this;
    const sha = good[good.length - 1].sha;
    const summary = line(`publish ${short(sha)} to ${m.state.integrationBranch}: ${ids(good.map((l) => l.id))}`);
    // Already there when the batch merge published it (a mission without verify).
    if (sha !== m.state.integrationSha)
      await this.acts.publishRef.executeWithOptions({ summary }, [
        { repo: spec.repo, ref: `refs/heads/${m.state.integrationBranch}`, sha, expected: m.state.integrationSha },
      ]);
    for (const l of good) {
      m.merged(l.id, l.sha);
      m.task(l.id).mergedAt = this.hooks.now();
    }
    m.state.integrationSha = sha;
    refreshWaves(m.state);
    if (spec.keepWorktrees) return;
    // In the background: removing a worktree (its node_modules…) must not hold up the next batch.
    // Best effort: one that cannot be removed now is listed by `flotilla clean` later.
    // One `removeTaskWorktrees` per host holding some of the batch's worktrees (see removalHost).
    const byHost = new Map<string, string[]>();
    for (const { id } of good) byHost.set(this.removalHost(id), [...(byHost.get(this.removalHost(id)) ?? []), id]);
    const removals = [...byHost].map(([host, taskIds]) =>
      (host ? mergeQueueHost(`${workflowInfo().taskQueue}@${host}`, spec) : this.acts).removeTaskWorktrees
        .executeWithOptions({ summary: line(`remove the merged worktrees of ${ids(taskIds)}`) }, [
          {
            tasks: taskIds.map((taskId) => ({
              missionId: spec.id,
              runId: m.ownerRunId,
              repo: spec.repo,
              taskId,
              copy: spec.copy,
              ...(spec.origin ? { origin: spec.origin } : {}),
            })),
          },
        ])
        .then(
          () => undefined,
          () => undefined,
        ),
    );
    this.cleanups.push(Promise.all(removals).then(() => undefined));
  }

  /**
   * Where a task's worktree is removed: '' for the mission's host, or (a mission with an origin)
   * the host the task ran on last, through that host's task queue; a host that is gone makes the
   * removal fail after the schedule-to-start timeout, which is fine (best effort).
   */
  private removalHost(taskId: string): string {
    const host = this.m.task(taskId).host;
    return this.spec.origin && host ? host : '';
  }

  /** Applies `onVerifyFailure` to the culprit of a failed batch; the merges after it queue again first. */
  private async culprit(c: Link, failed: VerifyFailure, rest: string[]): Promise<void> {
    const { m, spec } = this;
    const s = m.state;
    s.queue!.unshift(...rest);
    const t = m.task(c.id);
    const why = `mission verify \`${failed.command}\` failed (exit ${failed.exitCode ?? 'timeout'}) with ${c.id} merged`;
    const policy = spec.policy.onVerifyFailure;
    if (policy === 'fix') {
      const round = (s.fixes![c.id] ?? 0) + 1;
      if (round <= m.specOf(c.id).maxIterations) {
        s.fixes![c.id] = round;
        s.fixRequests![c.id] = { ...failed, syncTo: c.sha, onto: c.onto };
        m.sendBack(c.id, `${why}; sent back to its agent (fix ${round} of ${m.specOf(c.id).maxIterations})`);
        return;
      }
      m.breaksVerify(c.id, `breaks mission verify: ${why}; ${round - 1} fix${round === 2 ? '' : 'es'} did not help`);
      return;
    }
    if (policy === 'revert') {
      m.breaksVerify(c.id, `breaks mission verify: ${why}`);
      return;
    }
    if (policy === 'pause') {
      t.status = 'conflict';
      t.error = `breaks mission verify: ${why}`;
      const reason = `${why}; fix ${t.branch} (the failing candidate is ${c.sha.slice(0, 12)}), then \`flotilla resume ${spec.id}\`, or \`flotilla skip ${spec.id} ${c.id}\``;
      const lifted = await this.hooks.blockUntilLifted({ kind: 'verify', taskId: c.id, reason });
      if (lifted && m.task(c.id).status !== 'skipped') {
        t.status = 'succeeded';
        t.error = null;
        s.queue!.unshift(c.id);
      }
      return;
    }
    m.breaksVerify(c.id, `breaks mission verify: ${why}`);
    m.halt.stopFor(`${why} (onVerifyFailure: fail)`);
    this.closed = true;
  }
}
