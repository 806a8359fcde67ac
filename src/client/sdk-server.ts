/**
 * Fallback dev server for machines without Go or a `temporal` binary: the Temporal SDK's testing
 * package downloads the Temporal CLI once into its cache and runs `start-dev`. Run detached by
 * `server.ts`: `node sdk-server.js <address> <db-file>`; stops on SIGTERM.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { portOf } from './config';
import { searchAttributeFlags } from './search-attributes';

async function main(): Promise<void> {
  const [address, db] = process.argv.slice(2);
  const port = portOf(address);
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      ip: '127.0.0.1',
      port,
      ui: true,
      uiPort: port + 1000,
      dbFilename: db,
      // Each with its own type, as the CLI-started server has them (every mission sets them).
      extraArgs: searchAttributeFlags(),
    },
  });
  const stop = (): void => void env.teardown().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  setInterval(() => undefined, 1 << 30);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
