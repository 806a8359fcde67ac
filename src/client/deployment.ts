/**
 * Worker Versioning for `flotilla worker --deployment NAME [--build-id ID] [--set-current]`: which
 * version a worker polls as, and making it the deployment's current version (where new missions
 * start). See the README's "Worker lifecycle" for the rolling-upgrade procedure.
 */
import type { Connection } from '@temporalio/client';
import { bundleBuildId, WorkerDeployment } from '../worker';
import { CliError, EXIT } from './errors';

/** Deployment names: the service joins name and build id with a dot, so a name has none. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
const BUILD_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** How long `--set-current` waits for the service to register the new version, ms. */
const REGISTER_WAIT_MS = 30_000;

/**
 * The worker's deployment version from its flags, or undefined without `--deployment`.
 * @throws CliError (exit 2) for `--build-id`/`--set-current` without `--deployment`, a bad name or
 *   build id, or no prebuilt workflow bundle to hash when `--build-id` is not given
 */
export function deploymentFromFlags(opts: {
  deployment?: string;
  buildId?: string;
  setCurrent?: boolean;
}): WorkerDeployment | undefined {
  if (opts.deployment === undefined) {
    if (opts.buildId !== undefined || opts.setCurrent)
      throw new CliError(
        `${opts.buildId !== undefined ? '--build-id' : '--set-current'} needs --deployment NAME (Worker Versioning is opt-in)`,
        EXIT.invalid,
      );
    return undefined;
  }
  if (!NAME.test(opts.deployment))
    throw new CliError(
      `--deployment "${opts.deployment}": use letters, digits, "-" and "_" (no dots: the service joins name and build id with one)`,
      EXIT.invalid,
    );
  const buildId = opts.buildId ?? bundleBuildId();
  if (buildId === undefined)
    throw new CliError(
      '--deployment: no prebuilt workflow bundle to derive the build id from; run `npm run build` or pass --build-id ID',
      EXIT.invalid,
    );
  if (!BUILD_ID.test(buildId))
    throw new CliError(`--build-id "${buildId}": use letters, digits, ".", "-" and "_"`, EXIT.invalid);
  return { name: opts.deployment, buildId };
}

/**
 * Makes `version` the current version of its deployment: workflows started from now on run on it;
 * running pinned ones stay on theirs. Waits (up to 30 s) for the service to register the version,
 * which happens when its workers first poll.
 * @throws CliError (exit 1) with the service's reason when it refuses (e.g. a task queue of the
 *   current version that no worker of this version polls yet: start this version on every host first)
 */
export async function setCurrentVersion(
  connection: Connection,
  namespace: string,
  version: WorkerDeployment,
  identity: string,
): Promise<void> {
  const deadline = Date.now() + REGISTER_WAIT_MS;
  for (;;) {
    try {
      await connection.workflowService.setWorkerDeploymentCurrentVersion({
        namespace,
        deploymentName: version.name,
        buildId: version.buildId,
        identity,
      });
      return;
    } catch (err) {
      const message = (err as Error).message;
      // Not registered yet: the version and each of its task queues appear once the service has
      // seen their pollers. Queues of the current version that no worker of this one polls (another
      // host not upgraded yet) keep the refusal past the wait.
      if (/not found|not exist|no pollers|not yet|missing active task queues/i.test(message) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const hint = /missing active task queues/i.test(message)
        ? '; start this version on every host that runs the current one, then run `temporal worker deployment set-current-version`'
        : '';
      throw new CliError(
        `--set-current: the service did not make ${version.name}/${version.buildId} current: ${message}${hint}`,
        EXIT.failed,
      );
    }
  }
}
