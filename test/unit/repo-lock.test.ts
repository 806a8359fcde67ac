/**
 * The per-repository lock holds across processes (two workers on one host share its task queue),
 * and a lock left by a SIGKILLed worker does not block the next one for long.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { withRepoLock } from '../../src/activities/git';
import { makeRepo, tempDir } from '../helpers/git';

const gitJs = path.resolve(__dirname, '..', '..', 'lib', 'activities', 'git.js');

function holder(repo: string, log: string, name: string): Promise<void> {
  const script = `
    const fs = require('fs');
    require(process.argv[1]).withRepoLock(process.argv[2], async () => {
      fs.appendFileSync(process.argv[3], 'in ' + process.argv[4] + '\\n');
      await new Promise((r) => setTimeout(r, 400));
      fs.appendFileSync(process.argv[3], 'out ' + process.argv[4] + '\\n');
    });`;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['-e', script, gitJs, repo, log, name], (err) => (err ? reject(err) : resolve())),
  );
}

test('processes take the lock one at a time', async () => {
  const repo = makeRepo();
  const log = path.join(tempDir(), 'log');
  await Promise.all(['a', 'b', 'c'].map((n) => holder(repo, log, n)));
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  expect(lines).toHaveLength(6);
  // Every `in` is followed by the same holder's `out`: nobody was inside at the same time.
  for (let i = 0; i < lines.length; i += 2) expect(lines[i + 1]).toBe(lines[i].replace('in', 'out'));
}, 30_000);

test("a dead holder's lock is taken over once stale", async () => {
  const repo = makeRepo();
  const lock = path.join(repo, '.git', 'flotilla.lock');
  mkdirSync(lock);
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  const t0 = Date.now();
  await expect(withRepoLock(repo, async () => 'ran')).resolves.toBe('ran');
  expect(Date.now() - t0).toBeLessThan(5000);
});
