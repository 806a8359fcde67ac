/** Building mission specs and polling missions in tests. */
import type { Client } from '@temporalio/client';
import type { MissionProgress } from '../../src/mission/progress';
import type { AgentSpec, MissionSpec, TaskSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import { progressQuery } from '../../src/workflows/messages';
import { planWaves } from '../../src/mission/plan';

/** A `command` agent running a bash script (the script is test code, not user input). */
export function bashAgent(script: string, extra: Partial<AgentSpec> = {}): AgentSpec {
  return {
    runtime: 'command',
    command: ['bash', '-c', script],
    args: [],
    env: [],
    timeoutMs: 60_000,
    idleTimeoutMs: 60_000,
    retries: 0,
    ...extra,
  };
}

export function task(id: string, script: string, opts: Partial<TaskSpec> = {}): TaskSpec {
  return {
    id,
    title: `Task ${id}`,
    prompt: `do ${id}`,
    dependsOn: [],
    verify: [],
    maxIterations: 1,
    agent: bashAgent(script),
    checkpointEveryMs: 300_000,
    ...opts,
  };
}

export function mission(id: string, repo: string, tasks: TaskSpec[], opts: Partial<MissionSpec> = {}): MissionSpec {
  return {
    id,
    repo,
    base: 'main',
    concurrency: 2,
    setup: [],
    copy: [],
    verify: [],
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'fail', onVerifyFailure: 'fail' },
    tasks,
    ...opts,
  };
}

export function wavesOf(spec: MissionSpec): string[][] {
  return planWaves(spec.tasks);
}

export async function progress(client: Client, missionId: string): Promise<MissionProgress> {
  return client.workflow.getHandle(names.missionWorkflowId(missionId)).query(progressQuery);
}

/** Polls the progress query until `pred` holds; throws with the last progress after `timeoutMs`. */
export async function waitFor(
  client: Client,
  missionId: string,
  pred: (p: MissionProgress) => boolean,
  timeoutMs = 60_000,
): Promise<MissionProgress> {
  const deadline = Date.now() + timeoutMs;
  let last: MissionProgress | undefined;
  while (Date.now() < deadline) {
    try {
      last = await progress(client, missionId);
      if (pred(last)) return last;
    } catch {
      // Not started yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting; last progress: ${JSON.stringify(last, null, 2)}`);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A `setup` command (a shell script: test code) like a slow `npm install` that a half-done install
 * breaks: in the worktree of task `taskId` only (every worktree when absent), it writes its PID to
 * `pidFile`, fails when `node_modules/.partial` exists, then appends to that file every 0.2 s until
 * `goFile` exists, and finishes as `node_modules/installed`.
 */
export function slowInstallSetup(pidFile: string, goFile: string, taskId?: string): string {
  return [
    ...(taskId ? [`case "$(pwd -P)" in */tasks/${taskId}) ;; *) exit 0 ;; esac`] : []),
    `echo $$ > ${pidFile}`,
    "if [ -e node_modules/.partial ]; then echo 'a half-done install is in the way' >&2; exit 1; fi",
    'mkdir -p node_modules && echo started > node_modules/.partial',
    `while [ ! -e ${goFile} ]; do echo x >> node_modules/.partial; sleep 0.2; done`,
    'mv node_modules/.partial node_modules/installed',
  ].join('\n');
}
