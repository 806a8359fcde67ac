/**
 * A transcript write can never crash the worker: once crashed with `ERR_STREAM_WRITE_AFTER_END`
 * (an output line arriving after the attempt closed the file, with no 'error' listener).
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { TranscriptWriter } from '../../src/agents/transcript';
import { tempDir } from '../helpers/git';

const tick = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a record after close is dropped, not an unhandled stream error', async () => {
  const file = path.join(tempDir(), 'attempt-1.jsonl');
  const errors: Error[] = [];
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    const w = new TranscriptWriter(file, (e) => errors.push(e));
    w.record({ line: 'before' });
    await w.close();
    expect(w.writable).toBe(false);
    w.record({ line: 'after close' });
    await w.close(); // idempotent
    await tick();
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  expect(uncaught).toEqual([]);
  expect(errors).toEqual([]);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  expect(lines.map((l) => JSON.parse(l).line)).toEqual(['before']);
});

test('a failing file (its directory deleted before it opens) is reported once and ends writing', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'sub', 'attempt-1.jsonl');
  const errors: Error[] = [];
  const w = new TranscriptWriter(file, (e) => errors.push(e));
  rmSync(path.join(dir, 'sub'), { recursive: true, force: true });
  w.record({ line: 'x' });
  await tick(100);
  w.record({ line: 'y' });
  await w.close();
  expect(errors).toHaveLength(1);
  expect(w.writable).toBe(false);
});
