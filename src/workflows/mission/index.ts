/**
 * The mission workflow, as the rest of Flotilla sees it: `missionWorkflow` (its function name is
 * its workflow type: never rename it) and the shapes it is started with, returns and carries.
 */
export { missionWorkflow } from './workflow';
export type { CarriedState, MissionInput, MissionResult } from './types';
