/**
 * The search attributes a mission's and a task's workflow start with (Temporal visibility: the
 * Web UI's filters and columns, `temporal workflow list --query`, `flotilla list`). Pure, and
 * imported by workflow code (a task workflow starts with {@link taskStartAttributes}), so no
 * Node APIs here. The client registers every attribute on the namespace before it starts a
 * mission (`ensureSearchAttributes`), so the workflows may always set them.
 */
import type { SearchAttributePair } from '@temporalio/common';
import { MissionPhase, MissionSpec, Runtime, SEARCH_ATTRIBUTE_KEYS, TaskSpec } from './types';
import { withoutUrlCredentials } from './url-credentials';

/** Every runtime the mission's tasks use, sorted (a `KeywordList` value). */
export function missionRuntimes(spec: Pick<MissionSpec, 'tasks'>): Runtime[] {
  return [...new Set(spec.tasks.map((t) => t.agent.runtime))].sort();
}

/**
 * The search attributes `missionWorkflow` starts with: its id, `phase`, its repository, its
 * runtimes, progress 0 (percent) and cost 0 (USD). The workflow keeps phase, progress and cost
 * current.
 */
export function missionStartAttributes(
  spec: Pick<MissionSpec, 'id' | 'repo' | 'tasks'>,
  phase: MissionPhase,
): SearchAttributePair[] {
  return [
    { key: SEARCH_ATTRIBUTE_KEYS.missionId, value: spec.id },
    { key: SEARCH_ATTRIBUTE_KEYS.phase, value: phase },
    { key: SEARCH_ATTRIBUTE_KEYS.repo, value: withoutUrlCredentials(spec.repo) },
    { key: SEARCH_ATTRIBUTE_KEYS.runtime, value: missionRuntimes(spec) },
    { key: SEARCH_ATTRIBUTE_KEYS.progress, value: 0 },
    { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: 0 },
  ];
}

/**
 * The search attributes a task's `taskWorkflow` starts with: its mission id and task id, the
 * repository, the task's runtime and its cost so far (USD; the task keeps it current).
 */
export function taskStartAttributes(
  spec: Pick<MissionSpec, 'id' | 'repo'>,
  task: Pick<TaskSpec, 'id' | 'agent'>,
  /** What the task spent before (a `retry` carries it), USD: the task upserts only changes. */
  costUsd = 0,
): SearchAttributePair[] {
  return [
    { key: SEARCH_ATTRIBUTE_KEYS.missionId, value: spec.id },
    { key: SEARCH_ATTRIBUTE_KEYS.taskId, value: task.id },
    { key: SEARCH_ATTRIBUTE_KEYS.repo, value: withoutUrlCredentials(spec.repo) },
    { key: SEARCH_ATTRIBUTE_KEYS.runtime, value: [task.agent.runtime] },
    { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: Math.round(costUsd * 100) / 100 },
  ];
}
