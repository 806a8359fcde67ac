/**
 * The task workflow, as the mission (and the tests) see it: `taskWorkflow` (its function name is
 * its workflow type: never rename it) and the shapes it is started with and returns.
 */
export { taskWorkflow } from './workflow';
export type { TaskInput, TaskResult } from './types';
