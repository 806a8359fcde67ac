/**
 * The per-repository lock holds across processes (two workers on one host share its task queue),
 * and a lock left by a SIGKILLed worker does not block the next one for long.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withRepoLock } from '../../src/git/repo-lock';
import { makeRepo, tempDir } from '../helpers/git';

const gitJs = path.resolve(__dirname, '..', '..', 'lib', 'git', 'repo-lock.js');

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

/**
 * A holder stalled longer than the stale time (Ctrl-Z, a VM pause: here SIGSTOP) loses its lock
 * to another process. When it wakes, it must not crash (proper-lockfile's default
 * `onCompromised` throws from a timer: an uncaught exception that would kill a worker and its
 * agents); its operation fails with a retryable error once its critical section ends, and the
 * new holder's lock is left alone.
 */
test('a holder stalled past the stale time loses the lock without crashing, and says so', async () => {
  const repo = makeRepo();
  const dir = tempDir();
  const go = path.join(dir, 'go');
  const script = `
    const fs = require('fs');
    const [gitJs, repo, go] = process.argv.slice(1);
    require(gitJs)
      .withRepoLock(repo, async (held) => {
        console.log('in');
        let said = false;
        while (!fs.existsSync(go)) {
          if (held && held.lost && !said) (said = true), console.log('noticed: ' + held.lost.message);
          await new Promise((r) => setTimeout(r, 100));
        }
        return 'done';
      })
      .then((r) => console.log('returned ' + r), (e) => console.log('failed: ' + e.type + ' ' + e.nonRetryable + ' ' + e.message));`;
  const child = spawn(process.execPath, ['-e', script, gitJs, repo, go], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const until = async (pred: () => boolean, what: string): Promise<void> => {
    for (const deadline = Date.now() + 60_000; !pred(); await new Promise((r) => setTimeout(r, 100)))
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; child said:\n${out}`);
  };
  try {
    await until(() => out.includes('in\n'), 'the child to take the lock');
    child.kill('SIGSTOP');
    // This process takes the lock once the stopped holder's lock file is stale (20 s).
    const lock = path.join(repo, '.git', 'flotilla.lock');
    await withRepoLock(repo, async () => {
      child.kill('SIGCONT');
      let dead = false;
      void exited.then(() => (dead = true));
      // The child's refresh timer is overdue: it fires as soon as the child runs again.
      await until(() => dead || out.includes('noticed'), 'the child to notice');
      // Alive, and told: no uncaught exception from proper-lockfile's timer.
      expect({ dead, out }).toEqual({ dead: false, out: expect.stringMatching(/noticed: Unable to update lock/) });
      // The woken holder did not remove this process's lock.
      expect(existsSync(lock)).toBe(true);
      writeFileSync(go, '');
      expect(await exited).toBe(0);
      expect(existsSync(lock)).toBe(true);
    });
    expect(out).toMatch(/failed: RepoLockLost false .*lock/);
    expect(out).not.toMatch(/returned/);
  } finally {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
}, 90_000);
