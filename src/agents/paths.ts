/**
 * Where an agent's files live under `$FLOTILLA_HOME` (README "Where to look"): a task's folder
 * `runs/<missionId>/<taskId>/` holds its agent's transcripts (`attempt-<n>.jsonl`) and PID file
 * (`agent.pid`); its merge-conflict resolver's are apart in `runs/<missionId>/<taskId>/resolver/`,
 * so `flotilla logs ID TASK --resolver` shows only the resolver and a resolver's retry never
 * resumes (or kills) the task's agent.
 */
import path from 'node:path';

/**
 * What an agent is for (RunAgentInput.role): a task's own agent, a merge-conflict resolver, or the
 * planner of `flotilla plan` (its files are a task's: `runs/plan-<id>/planner/`).
 */
export type AgentRole = 'task' | 'resolver' | 'planner';

/** `$FLOTILLA_HOME/runs/<missionId>/<taskId>`: a task's agent files (and the worktree notes kept beside them). */
export function runDir(home: string, missionId: string, taskId: string): string {
  return path.join(home, 'runs', missionId, taskId);
}

/** `$FLOTILLA_HOME/runs/<missionId>/<taskId>/resolver`: the task's merge-conflict resolver's files. */
export function resolverDir(home: string, missionId: string, taskId: string): string {
  return path.join(runDir(home, missionId, taskId), 'resolver');
}

/** The folder of one agent's transcripts and PID file: {@link runDir}, or {@link resolverDir} for a resolver. */
export function agentDir(home: string, missionId: string, taskId: string, role: AgentRole = 'task'): string {
  return role === 'resolver' ? resolverDir(home, missionId, taskId) : runDir(home, missionId, taskId);
}

/** The PID file of the agent whose files are in `dir` ({@link agentDir}): `<dir>/agent.pid` (see pid-file.ts). */
export function agentPidFile(dir: string): string {
  return path.join(dir, 'agent.pid');
}
