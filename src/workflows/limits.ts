/** Time limits shared by the workflows, ms. An activity that runs N commands gets N times the limit. */
export const SETUP_COMMAND_TIMEOUT_MS = 20 * 60_000;
export const TASK_VERIFY_COMMAND_TIMEOUT_MS = 30 * 60_000;
export const MISSION_VERIFY_COMMAND_TIMEOUT_MS = 60 * 60_000;
/** Slack on top of the commands' own limits, for git work around them. */
export const ACTIVITY_SLACK_MS = 5 * 60_000;
