/**
 * The mission's merge queue: a task that succeeds enters it at once; the queue takes everything
 * waiting as one batch, merges it onto the candidate ref without a worktree (merge-tree,
 * commit-tree, update-ref), runs the mission verify on the candidate, and moves the integration
 * branch only to verified commits. A failing batch is verified once more (flaky commands), then
 * bisected over its merges to find the culprit; what merged before it lands, what came after it
 * goes back to the front of the queue, and `onVerifyFailure` decides the culprit's fate. A
 * conflict goes to the resolver agent (`onMergeConflict: resolve`), a human (`pause`) or ends the
 * mission (`fail`).
 *
 * Everything is decided here, in workflow code, from activity results: a batch holds the
 * tasks that ended while the batch before ran (history records it), in the mission file's order.
 */
import { commands, ids, line, short } from './summaries';
import { condition, workflowInfo } from '@temporalio/workflow';
import type { QueueMergeResult } from '../activities/queue-types';
import { conflictMessage, conflictReason } from '../mission/conflict-help';
import { failureMessage } from '../mission/failures';
import { ConflictState, MAX_VERIFY_RUNS, VerifyRun } from '../mission/progress';
import { bisectNext, refreshWaves } from '../mission/queue';
import type { MissionSpec } from '../mission/types';
import { queueHost } from './activities';
import { reportMergeQueue } from './queue-metrics';
import { MISSION_VERIFY_COMMAND_TIMEOUT_MS, SETUP_COMMAND_TIMEOUT_MS, TASK_VERIFY_COMMAND_TIMEOUT_MS } from './limits';
import type { Mission } from './mission-state';
import type { Block, CommandNames } from './mission-types';
import { resolverPrompt, ResolverPromptTask } from './resolver-prompt';

/** A merge on the candidate: the task and the commit whose first-parent chain holds it. */
interface Link {
  id: string;
  sha: string;
  /** The commit the merge went onto. */
  onto: string;
}

/** What the queue needs from the mission's steps. */
export interface QueueHooks {
  /** Waits until a block is lifted (resume, or a skip of its task); false when the mission was cancelled. */
  blockUntilLifted(block: Block): Promise<boolean>;
  setPhase(phase: 'running' | 'merging'): void;
  now(): string;
  /** What the mission's commands get by name, and every secret name it lists (see CommandNames). */
  commandNames: CommandNames;
}

export class MergeQueue {
  private readonly acts: ReturnType<typeof queueHost>;
  /** Set when the queue must not start another batch (cancel, a stop that ends merging). */
  closed = false;
  /** Worktree removals in flight; the queue waits for them before it returns. */
  private readonly cleanups: Promise<void>[] = [];
  /** Task summaries (the agents' final words), for the resolver's prompt. */
  readonly summaries = new Map<string, string>();

  constructor(
    private readonly m: Mission,
    private readonly spec: MissionSpec,
    /** The mission host's activities (`MissionHost.queue()`: they follow the host if it moves). */
    acts: ReturnType<typeof queueHost>,
    private readonly hooks: QueueHooks,
  ) {
    this.acts = acts;
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
      const order = (id: string): number => this.spec.tasks.findIndex((t) => t.id === id);
      const ids = s.queue!.splice(0, s.queue!.length).sort((a, b) => order(a) - order(b));
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
    for (const id of ids) {
      if (m.halt.cancel) {
        // Left succeeded and unmerged: the cancelled mission reports them so.
        continue;
      }
      if (m.task(id).status !== 'succeeded') continue; // skipped while it waited
      const sha = await this.mergeOne(id, tip);
      if (sha === null) continue;
      chain.push({ id, sha, onto: tip });
      tip = sha;
      s.batch.candidateSha = sha;
    }
    const verdict = await this.verify(index, chain);
    if (verdict.good.length > 0) await this.publish(verdict.good);
    if (verdict.culprit) await this.culprit(verdict.culprit, verdict.failed!, verdict.rest);
    s.batch = null;
    reportMergeQueue(this.spec.id, s);
    refreshWaves(s);
    this.hooks.setPhase('running');
  }

  /** Merges `id` onto `onto` (a conflict goes by `onMergeConflict`); the merge commit, or null. */
  private async mergeOne(id: string, onto: string): Promise<string | null> {
    const { m, spec } = this;
    const t = m.task(id);
    for (;;) {
      m.merging = id;
      let r: QueueMergeResult;
      try {
        const summary = line(`merge ${t.branch} onto ${short(onto)} (batch ${m.state.batch?.index ?? '?'})`);
        r = await this.acts.queueMerge.executeWithOptions({ summary }, [
          {
            repo: spec.repo,
            onto,
            branch: t.branch,
            taskId: id,
            title: t.title,
            ref: this.candidateRef,
            expected: m.state.candidateTip ?? null,
            date: this.hooks.now(),
          },
        ]);
      } finally {
        m.merging = null;
      }
      if (r.status === 'merged') {
        m.state.candidateTip = r.sha;
        // What the branch held when the queue merged it (a person may have committed a fix there).
        if (r.tip) t.headSha = r.tip;
        // A conflict a person fixed on the task branch, then `resume`d.
        const fixed = m.state.conflicts!.find((c) => c.taskId === id && c.state === 'blocked');
        if (fixed) {
          fixed.state = 'resolved';
          fixed.note = 'resolved by hand on the task branch, then resumed';
        }
        return r.sha;
      }
      const entry = this.conflictEntry(id, r);
      const resolving = spec.policy.onMergeConflict === 'resolve' && !m.halt.cancel;
      if (resolving) {
        const sha = await this.resolve(id, onto, entry);
        if (sha !== null) return sha;
      }
      const message = conflictMessage(r.files, entry.withTasks);
      const block = m.conflict(id, message);
      if (!block) {
        entry.state = 'failed';
        entry.note ??= message;
        return null;
      }
      const { integrationBranch, integrationSha } = m.state;
      const ontoIsIntegration = onto === integrationSha;
      const resolverNote = resolving ? (entry.note ?? 'no explanation') : undefined;
      const at = { missionId: spec.id, branch: t.branch, repo: spec.repo, integrationBranch, onto, ontoIsIntegration };
      block.reason = conflictReason({ ...at, conflict: entry, resolverNote, origin: !!spec.origin });
      entry.state = 'blocked';
      if (!(await this.hooks.blockUntilLifted(block))) return null;
      if (m.task(id).status === 'skipped') return null;
      t.status = 'succeeded';
      t.error = null;
    }
  }

  /** The conflict's entry in the state (made on its first meeting), with what `queueMerge` said of it. */
  private conflictEntry(id: string, r: Pick<ConflictState, 'files'> & Partial<ConflictState>): ConflictState {
    const list = this.m.state.conflicts!;
    let entry = list.find((c) => c.taskId === id);
    if (!entry) {
      entry = { taskId: id, files: r.files, withTasks: [], state: 'resolving', attempts: 0, note: null };
      list.push(entry);
    }
    Object.assign(entry, { files: r.files, withTasks: r.withTasks ?? [], worktree: r.worktree ?? null });
    return entry;
  }

  /**
   * `onMergeConflict: resolve`: the conflicting merge is set up in its own worktree, the resolver
   * agent resolves it, and Flotilla checks the result (markers, files outside the conflict, lines
   * each side added, both tasks' gates and the mission verify). A rejected resolution goes back to
   * the resolver once with the reasons. Returns the merge commit, or null (the mission blocks).
   */
  private async resolve(id: string, onto: string, entry: ConflictState): Promise<string | null> {
    const { m, spec, acts } = this;
    const t = m.task(id);
    const files = entry.files;
    entry.state = 'resolving';
    entry.attempts = 0;
    entry.note = null;
    entry.startedAt = this.hooks.now();
    entry.endedAt = null;
    const done = (): void => {
      entry.endedAt = this.hooks.now();
    };
    m.state.batch!.step = 'resolving';
    const prep = await acts.prepareConflict.executeWithOptions(
      { summary: line(`set up ${id}'s conflict onto ${short(onto)} in ${ids(files)}`) },
      [
        {
          missionId: spec.id,
          runId: m.ownerRunId,
          repo: spec.repo,
          taskId: id,
          onto,
          branch: t.branch,
          setup: spec.setup,
          copy: spec.copy,
          setupTimeoutMs: SETUP_COMMAND_TIMEOUT_MS,
          ...this.hooks.commandNames,
        },
      ],
    );
    const others = prep.otherTasks.filter((x) => m.state.tasks.some((y) => y.id === x)).map((x) => m.specOf(x));
    const gates = [...m.specOf(id).verify, ...others.flatMap((o) => o.verify), ...spec.verify];
    const commit = async (): Promise<string> => {
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
            ref: this.candidateRef,
            expected: m.state.candidateTip ?? null,
            date: this.hooks.now(),
          },
        ],
      );
      m.state.candidateTip = sha;
      m.state.batch!.step = 'merging';
      t.headSha = prep.branchTip;
      done();
      return sha;
    };
    /** The checks a resolution must pass; the problems found (empty: it passes). */
    const check = async (): Promise<string[]> => {
      entry.state = 'checking';
      const r = await acts.checkResolution.executeWithOptions(
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
      if (!r.ok) return r.problems;
      if (gates.length === 0) return [];
      const g = await acts.runChecks.executeWithOptions(
        { summary: line(`gates of ${id}'s resolution: ${commands(gates)}`) },
        [
          {
            cwd: prep.worktree,
            commands: gates,
            timeoutMs: Math.max(TASK_VERIFY_COMMAND_TIMEOUT_MS, MISSION_VERIFY_COMMAND_TIMEOUT_MS),
            logFile: `${prep.worktree}.verify.log`,
            ...this.hooks.commandNames,
          },
        ],
      );
      if (g.ok) return [];
      const f = g.failed!;
      return [`\`${f.command}\` failed (exit ${f.exitCode ?? 'timeout'}):\n${f.outputTail.trim()}`];
    };

    if (prep.remaining.length === 0) {
      // rerere replayed a resolution recorded when an earlier batch merged this same conflict.
      const problems = await check();
      if (problems.length === 0) {
        entry.state = 'replayed';
        entry.note = 'resolution replayed by git rerere';
        return commit();
      }
    }
    let feedback: string[] = [];
    for (let attempt = 1; attempt <= 2; attempt++) {
      entry.state = 'resolving';
      entry.attempts = attempt;
      let summary = '';
      try {
        const prompt = resolverPrompt({
          task: this.promptTask(id),
          others: prep.otherTasks.filter((x) => m.state.tasks.some((y) => y.id === x)).map((x) => this.promptTask(x)),
          conflict: prep,
          missionVerify: spec.verify,
          feedback,
        });
        const agent = spec.resolver ?? m.specOf(id).agent;
        const run = await acts.runResolver.executeWithOptions(
          { summary: `resolver (${agent.runtime}) · ${id} · run ${attempt}` },
          [
            {
              missionId: spec.id,
              taskId: id,
              worktree: prep.worktree,
              branch: t.branch,
              baseSha: onto,
              agent,
              prompt,
              // Restated by a retried attempt's continuation prompt: the resolver's task is the prompt.
              taskPrompt: prompt,
              iteration: attempt,
              role: 'resolver',
              extraEnv: { FLOTILLA_CONFLICTS: prep.remaining.length ? prep.remaining.join('\n') : files.join('\n') },
            },
          ],
        );
        summary = run.summary;
        entry.costUsd = (entry.costUsd ?? 0) + (run.costUsd ?? 0);
      } catch (err) {
        entry.state = 'rejected';
        entry.note = `the resolver agent failed: ${failureMessage(err)}`;
        break;
      }
      const problems = await check();
      if (problems.length === 0) {
        entry.state = 'resolved';
        entry.note = summary || null;
        return commit();
      }
      entry.state = 'rejected';
      entry.note = `resolution rejected: ${problems.join('; ').slice(0, 1500)}`;
      feedback = problems;
    }
    await acts.dropConflict
      .executeWithOptions({ summary: `drop ${id}'s conflict worktree` }, [{ repo: spec.repo, worktree: prep.worktree }])
      .catch(() => undefined);
    done();
    return null;
  }

  private promptTask(id: string): ResolverPromptTask {
    const s = this.m.specOf(id);
    return { id, title: s.title, prompt: s.prompt, summary: this.summaries.get(id) ?? null, verify: s.verify };
  }

  /**
   * Verifies the candidate; on failure once more (flaky commands), then bisects over the batch's
   * prefixes for the first merge whose prefix fails. `good` is the verified prefix to publish.
   */
  private async verify(
    batch: number,
    chain: Link[],
  ): Promise<{
    good: Link[];
    culprit?: Link;
    failed?: { command: string; exitCode: number | null; outputTail: string };
    rest: string[];
  }> {
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
  ): Promise<{ command: string; exitCode: number | null; outputTail: string } | null> {
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
    const removals = good.map((l) =>
      this.removerOf(l.id)
        .executeWithOptions({ summary: `remove ${l.id}'s merged worktree` }, [
          {
            missionId: spec.id,
            runId: m.ownerRunId,
            repo: spec.repo,
            taskId: l.id,
            copy: spec.copy,
            ...(spec.origin ? { origin: spec.origin } : {}),
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
   * `removeTaskWorktree` where the task's worktree is: the mission's host, or (a mission with an
   * origin) the host the task ran on last, through that host's queue; a host that is gone makes
   * the removal fail after the schedule-to-start timeout, which is fine (best effort).
   */
  private removerOf(taskId: string): ReturnType<typeof queueHost>['removeTaskWorktree'] {
    const host = this.m.task(taskId).host;
    if (!this.spec.origin || !host) return this.acts.removeTaskWorktree;
    return queueHost(`${workflowInfo().taskQueue}@${host}`, this.spec).removeTaskWorktree;
  }

  /** Applies `onVerifyFailure` to the culprit of a failed batch; the merges after it queue again first. */
  private async culprit(
    c: Link,
    failed: { command: string; exitCode: number | null; outputTail: string },
    rest: string[],
  ): Promise<void> {
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
