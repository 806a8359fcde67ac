/**
 * Agent PID files on a real Linux host: a stale file (written before a reboot, or naming a PID the
 * kernel has since given to another process) must never get an unrelated process group killed.
 * The "unrelated" processes here are real `sleep`s in groups of their own, and whether they survive
 * is read from the kernel.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { processStartTime } from '../../src/agents/pid-file';
import { killStaleGroup, recordedGroup, writePidFile } from '../../src/agents/process';
import { bystander, killBystanders } from '../helpers/bystander';
import { processAlive } from '../helpers/missions';
import { tempDir } from '../helpers/git';

const dir = tempDir('flotilla-pid-');
afterAll(killBystanders);

const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

test.each([
  [
    'a file without an identity, the PID alone (someone else wrote it: nothing proves it is ours)',
    (pid: number) => `${pid}\n`,
  ],
  [
    'the PID with another start time (the PID was reused)',
    (pid: number) => `${pid} ${Number(processStartTime(pid)) - 1} ${bootId()}\n`,
  ],
  [
    'the PID and its start time, but another boot',
    (pid: number) => `${pid} ${processStartTime(pid)} 00000000-0000-4000-8000-000000000000\n`,
  ],
])('a stale PID file, %s: the process survives, the file is removed, nothing is reported killed', async (_, line) => {
  const pid = bystander();
  const file = path.join(tempDir('flotilla-pid-'), 'agent.pid');
  writeFileSync(file, line(pid));
  expect(recordedGroup(file)).toBeUndefined();
  expect(await killStaleGroup(file)).toBeUndefined();
  await new Promise((r) => setTimeout(r, 300));
  expect(processAlive(pid)).toBe(true);
  expect(existsSync(file)).toBe(false);
});

test("a PID file Flotilla wrote for a group that still runs: the group is killed (it is the dead worker's agent)", async () => {
  const pid = bystander();
  const file = path.join(dir, 'agent.pid');
  writePidFile(file, pid);
  expect(readFileSync(file, 'utf8')).toBe(`${pid} ${processStartTime(pid)} ${bootId()}\n`);
  expect(recordedGroup(file)).toBe(pid);
  expect(await killStaleGroup(file)).toBe(pid);
  await new Promise((r) => setTimeout(r, 300));
  expect(processAlive(pid)).toBe(false);
  expect(existsSync(file)).toBe(false);
});

test('processStartTime reads field 22 of /proc/<pid>/stat, also when the command name has spaces and parentheses', () => {
  // The command name (field 2) is the executable's file name: one with ") " in it shifts naive fields.
  const exe = path.join(dir, 'x) y (z');
  symlinkSync(execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim(), exe);
  const pid = bystander({ program: exe });
  const uptime = (): number => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  let stat = '';
  const deadline = Date.now() + 5000;
  while (!stat.includes('(x) y (z)') && Date.now() < deadline) stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  expect(stat).toContain('(x) y (z)');
  // An independent reading: the process started just now, in clock ticks since boot (USER_HZ).
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const startedSecondsAfterBoot = Number(processStartTime(pid)) / hz;
  expect(Math.abs(uptime() - startedSecondsAfterBoot)).toBeLessThan(30);
  expect(processStartTime(999_999_999)).toBeUndefined();
});
