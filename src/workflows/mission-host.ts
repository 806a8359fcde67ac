/**
 * The mission's own host: the worker host that holds its integration worktree and runs its merge
 * queue's git activities. Without an origin it is the host of `repo` for the mission's life. With
 * one (`origin:`), any host can be it, so a lost one is replaced: every activity of the mission's
 * host gets a schedule-to-start timeout, and when one says the host is gone (see `hostLost`) the
 * mission claims another host, prepares the integration worktree there from the origin (the
 * integration branch and the merge queue's candidate were pushed there as they moved), and runs
 * the activity again with the old host's paths replaced by the new host's.
 *
 * The activity objects handed out here look up the current host at each call, so the merge queue
 * never holds a stale queue name. For a mission without an origin every call is
 * exactly the proxy call it always was (same commands, same history).
 */
import type { ActivityOptions } from '@temporalio/workflow';
import type { PrepareIntegrationInput } from '../activities/worktree';
import { hostOfQueue, MissionSpec } from '../mission/types';
import { anyWorker, missionHost, queueHost } from './activities';
import { SETUP_COMMAND_TIMEOUT_MS } from './limits';
import type { Mission } from './mission-state';
import type { CommandNames } from './mission-types';
import { line, short } from './summaries';
import { hostLost } from './task-placement';

/** How often a mission may move to another host before an activity's loss is its failure. */
const MAX_MOVES = 10;

type AnyActivity = ((...args: unknown[]) => Promise<unknown>) & {
  executeWithOptions(options: ActivityOptions, args: unknown[]): Promise<unknown>;
};

/** Where the mission's host keeps things: what a replacement rewrites in activity arguments. */
interface HostRoots {
  queue: string;
  repo: string;
  /** The directory of the integration worktree (conflict worktrees are its siblings). */
  worktrees: string | null;
}

function dirname(p: string): string {
  return p.slice(0, p.lastIndexOf('/'));
}

/** `value` with every string that starts with one of `from`'s paths moved to `to`'s. */
function rebase(value: unknown, from: HostRoots, to: HostRoots): unknown {
  if (typeof value === 'string') {
    if (value === from.repo || value.startsWith(`${from.repo}/`)) return to.repo + value.slice(from.repo.length);
    if (from.worktrees && to.worktrees && (value === from.worktrees || value.startsWith(`${from.worktrees}/`)))
      return to.worktrees + value.slice(from.worktrees.length);
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => rebase(v, from, to));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rebase(v, from, to)]));
  return value;
}

export class MissionHost {
  private moves = 0;
  private replacing: Promise<void> | null = null;

  constructor(
    private readonly m: Mission,
    private readonly spec: MissionSpec,
    private readonly commandNames: CommandNames,
  ) {}

  /** What `prepareIntegration` gets on the mission's (current) host: the first setup, or a takeover. */
  integrationInput(): PrepareIntegrationInput {
    const { m, spec } = this;
    return {
      missionId: spec.id,
      runId: m.ownerRunId,
      repo: spec.repo,
      baseBranch: spec.base,
      baseSha: m.state.baseSha,
      setup: spec.setup,
      copy: spec.copy,
      setupTimeoutMs: SETUP_COMMAND_TIMEOUT_MS,
      ...this.commandNames,
    };
  }

  /** The integration branch's setup (see `missionHost`), on the current host. */
  mission(): ReturnType<typeof missionHost> {
    return this.follow((queue) => missionHost(queue, this.spec));
  }

  /** The merge queue's activities (see `queueHost`), on the current host. */
  queue(): ReturnType<typeof queueHost> {
    return this.follow((queue) => queueHost(queue, this.spec));
  }

  private roots(): HostRoots {
    const s = this.m.state;
    return {
      queue: s.hostQueue!,
      repo: this.spec.repo,
      worktrees: s.integrationWorktree ? dirname(s.integrationWorktree) : null,
    };
  }

  private follow<T extends object>(make: (queue: string) => T): T {
    // Without an origin the host never changes: the plain proxies, exactly what always ran.
    if (!this.spec.origin) return make(this.m.state.hostQueue!);
    const out: Record<string, AnyActivity> = {};
    for (const name of Object.keys(make(this.m.state.hostQueue!))) {
      const call = (options: ActivityOptions | null, args: unknown[]): Promise<unknown> =>
        this.run(make, name, options, args);
      const fn = ((...args: unknown[]) => call(null, args)) as AnyActivity;
      fn.executeWithOptions = (options, args) => call(options, args);
      out[name] = fn;
    }
    return out as T;
  }

  private async run<T extends object>(
    make: (queue: string) => T,
    name: string,
    options: ActivityOptions | null,
    args: unknown[],
  ): Promise<unknown> {
    for (;;) {
      const before = this.roots();
      const act = (make(before.queue) as Record<string, AnyActivity>)[name];
      try {
        return await (options ? act.executeWithOptions(options, args) : act(...args));
      } catch (err) {
        if (!this.spec.origin || !hostLost(err) || this.moves >= MAX_MOVES) throw err;
        await this.replace(before, `host ${hostOfQueue(before.queue)} lost during ${name}`);
        args = rebase(args, before, this.roots()) as unknown[];
      }
    }
  }

  /** Moves the mission to another host, unless a concurrent call already moved it off `from`. */
  private async replace(from: HostRoots, why: string): Promise<void> {
    while (this.replacing) await this.replacing;
    if (this.m.state.hostQueue !== from.queue) return;
    this.replacing = this.claimAndPrepare(why).finally(() => {
      this.replacing = null;
    });
    await this.replacing;
  }

  private async claimAndPrepare(why: string): Promise<void> {
    const { m, spec } = this;
    const s = m.state;
    for (;;) {
      this.moves++;
      const lost = hostOfQueue(s.hostQueue!);
      const claim = await anyWorker.claimHost.executeWithOptions(
        { summary: line(`claim another host for the mission (${why})`) },
        [{ repo: spec.origin!, origin: spec.origin! }],
      );
      s.previousHosts = [...(s.previousHosts ?? []), lost];
      s.hostQueue = claim.taskQueue;
      s.hostRepo = claim.repo;
      spec.repo = claim.repo;
      try {
        const summary = line(
          `${s.integrationBranch} at ${short(s.integrationSha ?? '')} on ${hostOfQueue(claim.taskQueue)}`,
        );
        const prep = await missionHost(claim.taskQueue, spec).prepareIntegration.executeWithOptions({ summary }, [
          this.integrationInput(),
        ]);
        s.integrationWorktree = prep.worktree;
        return;
      } catch (err) {
        if (!hostLost(err) || this.moves >= MAX_MOVES) throw err;
        why = `host ${hostOfQueue(claim.taskQueue)} lost while taking the mission over`;
      }
    }
  }
}
