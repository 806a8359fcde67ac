import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { localWorkerAlive, pollerLive } from '../../src/client/visibility';

/** A pid that no process has now: one of a child that has exited and been reaped. */
function deadPid(): number {
  return Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
}

test('a worker of this host is alive while its process exists', () => {
  expect(localWorkerAlive(`${process.pid}@${os.hostname()} worker queue=q`)).toBe(true);
  expect(localWorkerAlive(`${deadPid()}@${os.hostname()} worker queue=q`)).toBe(false);
});

test('a worker of another host, or an identity of another form, cannot be told from here', () => {
  expect(localWorkerAlive(`${process.pid}@not-${os.hostname()} worker`)).toBeNull();
  expect(localWorkerAlive('my-custom-worker')).toBeNull();
});

test('a poller elsewhere is live while it polled in the last 90 s; one here while its process lives', () => {
  const now = Date.now();
  expect(pollerLive(`1@elsewhere-${os.hostname()}`, now - 10_000, now)).toBe(true);
  expect(pollerLive(`1@elsewhere-${os.hostname()}`, now - 120_000, now)).toBe(false);
  expect(pollerLive(`${deadPid()}@${os.hostname()}`, now, now)).toBe(false);
});
