/**
 * Where a program lives on this host: looking it up on PATH, and the directories it needs to start
 * (its package, its interpreter), which a sandbox that hides the home directory must bind back.
 */
import { accessSync, closeSync, constants, openSync, readSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

/** True for an existing regular file this process may execute. */
function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The program's absolute path: `program` itself when it holds a slash (resolved against `cwd`),
 * else the first executable `program` in the directories of `searchPath` (PATH syntax, as
 * execvp(3) searches it). Undefined when there is none.
 */
export function findOnPath(
  program: string,
  searchPath = process.env.PATH ?? '',
  cwd = process.cwd(),
): string | undefined {
  if (program.includes('/')) {
    const file = path.resolve(cwd, program);
    return executable(file) ? file : undefined;
  }
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir || !path.isAbsolute(dir)) continue;
    const file = path.join(dir, program);
    if (executable(file)) return file;
  }
  return undefined;
}

/** The interpreter a `#!` line names (`#!/usr/bin/env node` names `node`), or undefined. */
function interpreterOf(file: string): string | undefined {
  let head = '';
  try {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(256);
      head = buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const line = /^#!\s*(\S+)(?:[ \t]+(\S+))?/.exec(head);
  if (!line) return undefined;
  // `env NAME` (and `env -S NAME …`): the program is looked up on PATH.
  if (path.basename(line[1]) === 'env') return line[2] && line[2] !== '-S' ? line[2] : undefined;
  return line[1];
}

/**
 * The directory a program file needs visible: the nearest enclosing `node_modules` (an npm
 * package's siblings come with it: Codex's `bin/codex.js` starts the native binary of
 * `@openai/codex-linux-x64`), else the install prefix of a file in a `bin/` directory (an
 * interpreter such as `~/.nvm/versions/node/v22/bin/node` needs its `lib/`), else its directory.
 */
function dirOf(file: string, prefix: boolean): string {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (path.basename(dir) === 'node_modules') return dir;
  }
  const dir = path.dirname(file);
  return prefix && path.basename(dir) === 'bin' ? path.dirname(dir) : dir;
}

/**
 * The directories `program` needs to be seen to start, absolute: for the path it is found at and
 * the real path behind its symlinks, {@link dirOf}; the same for the interpreter of a `#!` script,
 * looked up on `searchPath`. Empty when the program is not found (the launch then fails as "not
 * found", as it would without a sandbox).
 */
export function programDirs(program: string, searchPath: string, cwd: string): string[] {
  const dirs = new Set<string>();
  const add = (name: string, prefix: boolean): string | undefined => {
    const found = findOnPath(name, searchPath, cwd);
    if (!found) return undefined;
    const real = realpathSync(found);
    dirs.add(dirOf(found, prefix));
    dirs.add(dirOf(real, prefix));
    return real;
  };
  const real = add(program, false);
  const interpreter = real ? interpreterOf(real) : undefined;
  if (interpreter) add(interpreter, true);
  return [...dirs];
}
