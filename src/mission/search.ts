/**
 * The search attributes a mission's and a task's workflow start with (Temporal visibility: the
 * Web UI's filters and columns, `temporal workflow list --query`, `flotilla list`). Pure, and
 * imported by workflow code (a task workflow starts with {@link taskStartAttributes}), so no
 * Node APIs here.
 */
import type { SearchAttributePair } from '@temporalio/common';
import { MissionPhase, MissionSpec, Runtime, SEARCH_ATTRIBUTE_KEYS, TaskSpec } from './types';
import { withoutUrlCredentials } from './url-credentials';

/**
 * Which of Flotilla's search attributes the namespace has (the shape of `MissionInput`'s flags):
 * `searchAttributes` the first three (mission id, task id, phase), `storyAttributes` the
 * progress, cost, repository and runtime ones. The client finds out (`ensureSearchAttributes`);
 * a workflow sets only the attributes of a set the client said exists, since setting an unknown
 * attribute fails the workflow task.
 */
export interface AttributeSets {
  searchAttributes?: boolean;
  storyAttributes?: boolean;
}

/** Every runtime the mission's tasks use, sorted (a `KeywordList` value). */
export function missionRuntimes(spec: Pick<MissionSpec, 'tasks'>): Runtime[] {
  return [...new Set(spec.tasks.map((t) => t.agent.runtime))].sort();
}

/**
 * The search attributes `missionWorkflow` starts with: its id and `phase`; with the story set also
 * its repository, runtimes, progress 0 (percent) and cost 0 (USD). The workflow keeps phase,
 * progress and cost current. Undefined when the namespace has none of them.
 */
export function missionStartAttributes(
  spec: Pick<MissionSpec, 'id' | 'repo' | 'tasks'>,
  phase: MissionPhase,
  sets: AttributeSets,
): SearchAttributePair[] | undefined {
  if (!sets.searchAttributes) return undefined;
  const pairs: SearchAttributePair[] = [
    { key: SEARCH_ATTRIBUTE_KEYS.missionId, value: spec.id },
    { key: SEARCH_ATTRIBUTE_KEYS.phase, value: phase },
  ];
  if (sets.storyAttributes)
    pairs.push(
      { key: SEARCH_ATTRIBUTE_KEYS.repo, value: withoutUrlCredentials(spec.repo) },
      { key: SEARCH_ATTRIBUTE_KEYS.runtime, value: missionRuntimes(spec) },
      { key: SEARCH_ATTRIBUTE_KEYS.progress, value: 0 },
      { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: 0 },
    );
  return pairs;
}

/**
 * The search attributes a task's `taskWorkflow` starts with: its mission id and task id; with the
 * story set also the repository, the task's runtime and its cost so far (USD; the task keeps it current).
 * Undefined when the namespace has none of them.
 */
export function taskStartAttributes(
  spec: Pick<MissionSpec, 'id' | 'repo'>,
  task: Pick<TaskSpec, 'id' | 'agent'>,
  sets: AttributeSets,
  /** What the task spent before (a `retry` carries it), USD: the task upserts only changes. */
  costUsd = 0,
): SearchAttributePair[] | undefined {
  if (!sets.searchAttributes) return undefined;
  const pairs: SearchAttributePair[] = [
    { key: SEARCH_ATTRIBUTE_KEYS.missionId, value: spec.id },
    { key: SEARCH_ATTRIBUTE_KEYS.taskId, value: task.id },
  ];
  if (sets.storyAttributes)
    pairs.push(
      { key: SEARCH_ATTRIBUTE_KEYS.repo, value: withoutUrlCredentials(spec.repo) },
      { key: SEARCH_ATTRIBUTE_KEYS.runtime, value: [task.agent.runtime] },
      { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: Math.round(costUsd * 100) / 100 },
    );
  return pairs;
}
