export { planWorkflow } from './workflow';
export type { PlanInput, PlanResult } from './types';
export { planWorkflowId } from './types';
