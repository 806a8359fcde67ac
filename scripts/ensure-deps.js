#!/usr/bin/env node
/**
 * Runs before `npm test` and `npm run test:faults` (the `pretest` scripts), so that the README's
 * test command passes in a fresh clone on its own: installs the npm packages when they are missing
 * or older than package-lock.json (as the `./flotilla` launcher does), and the Temporal CLI the
 * tests' dev servers run when none is found (as `.ci/run` does). Plain Node: nothing is installed
 * yet when it runs.
 *
 * FLOTILLA_ENSURE_DEPS_DRY_RUN=1 prints what it would do and does nothing.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const path = require('node:path');

/** The same module as `TEMPORAL_CLI_MODULE` in src/client/server.ts (a unit test keeps them equal). */
const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

function which(name, env) {
  for (const dir of (env.PATH || '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

function goBin(go) {
  try {
    const gopath = execFileSync(go, ['env', 'GOPATH'], { encoding: 'utf8' }).trim().split(path.delimiter)[0];
    return gopath ? path.join(gopath, 'bin') : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a checkout at `root` lacks: `npm ci` and/or `go install <module>` (argv arrays), and a
 * note when the Temporal CLI is missing and Go is too.
 */
function plan(root, env = process.env) {
  const steps = [];
  const notes = [];
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (!existsSync(installed) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(installed).mtimeMs))
    steps.push(['npm', 'ci', '--no-audit', '--no-fund', '--loglevel=error']);
  const go = which('go', env);
  const bin = go && goBin(go);
  const haveTemporal =
    (env.TEMPORAL_CLI_PATH && existsSync(env.TEMPORAL_CLI_PATH)) ||
    which('temporal', env) ||
    (bin && existsSync(path.join(bin, 'temporal')));
  if (!haveTemporal) {
    if (go) steps.push([go, 'install', TEMPORAL_CLI_MODULE]);
    else notes.push('no Temporal CLI and no Go: install the Temporal CLI and set TEMPORAL_CLI_PATH for the tests');
  }
  return { steps, notes };
}

function main() {
  const root = path.resolve(__dirname, '..');
  const { steps, notes } = plan(root);
  for (const note of notes) process.stderr.write(`ensure-deps: ${note}\n`);
  for (const argv of steps) {
    process.stderr.write(`ensure-deps: ${argv.join(' ')}\n`);
    if (process.env.FLOTILLA_ENSURE_DEPS_DRY_RUN) continue;
    execFileSync(argv[0], argv.slice(1), { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  }
}

module.exports = { plan, TEMPORAL_CLI_MODULE };

if (require.main === module) main();
