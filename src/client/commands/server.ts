/** `flotilla server [--db FILE]` / `flotilla server stop`: the embedded Temporal dev server. */
import { Command } from 'commander';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config';
import { CliError, EXIT } from '../errors';
import { ensureTemporalCli, readServerRecord, startDevArgs, stopEmbeddedServer } from '../server';
import { say } from './context';

/** Adds `flotilla server` and `flotilla server stop` to the program. */
export function register(program: Command): void {
  const server = program
    .command('server')
    .description('run the embedded Temporal dev server in the foreground (Web UI on gRPC port + 1000)')
    .option('--db <file>', 'SQLite database file', '')
    .action(async (opts: { db: string }) => {
      const config = loadConfig();
      mkdirSync(config.home, { recursive: true, mode: 0o700 });
      const cli = ensureTemporalCli(say);
      if (!cli)
        throw new CliError(
          'no Temporal CLI found and no Go to install it; install the Temporal CLI and set TEMPORAL_CLI_PATH',
          EXIT.failed,
        );
      const db = opts.db ? path.resolve(opts.db) : path.join(config.home, 'temporal.db');
      const child = spawn(cli, startDevArgs(config.address, db), { stdio: 'inherit' });
      // A terminal's Ctrl-C reaches both; `kill PID` (a script, a supervisor) reaches only us.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
      process.exitCode = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 0)));
    });
  server
    .command('stop')
    .description('stop the dev server `flotilla run` started in the background')
    .action(async () => {
      const config = loadConfig();
      const rec = readServerRecord(config.home);
      if (await stopEmbeddedServer(config.home))
        say(`stopped the Temporal dev server (pid ${rec?.pid}, ${rec?.address})`);
      else say('no dev server started by flotilla is running');
    });
}
