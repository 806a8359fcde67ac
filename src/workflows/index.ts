// The workflow bundle's entry point: every workflow the worker registers.
export { missionWorkflow } from './mission';
export { taskWorkflow } from './task';
export { planWorkflow } from './plan';
