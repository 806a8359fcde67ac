/** Every `flotilla` command, in the order `flotilla --help` lists them. */
import type { Command } from 'commander';
import * as cancel from './cancel';
import * as clean from './clean';
import * as land from './land';
import * as list from './list';
import * as logs from './logs';
import * as pause from './pause';
import * as plan from './plan';
import * as report from './report';
import * as resume from './resume';
import * as retry from './retry';
import * as run from './run';
import * as server from './server';
import * as skip from './skip';
import * as status from './status';
import * as steer from './steer';
import * as validate from './validate';
import * as watch from './watch';
import * as worker from './worker';
import * as workers from './workers';

/** A command module: adds its command(s) to the program. */
export interface CommandModule {
  register(program: Command): void;
}

export const COMMANDS: readonly CommandModule[] = [
  validate,
  plan,
  run,
  status,
  watch,
  list,
  pause,
  resume,
  cancel,
  steer,
  retry,
  skip,
  logs,
  report,
  land,
  clean,
  worker,
  workers,
  server,
];
