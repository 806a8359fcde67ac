/**
 * `flotilla validate` as a user runs it before starting a mission: besides the wave plan, what the
 * mission will do when something goes wrong (its policies), who resolves its merge conflicts (the
 * resolver's runtime and model, under `onMergeConflict: resolve`), how it lands and its budget:
 * the defaults spelled out when the file leaves them out. Needs no server.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers/cli';
import { makeRepo, tempDir } from '../helpers/git';

const home = tempDir('flotilla-validate-home-');

async function validate(mission: string): Promise<string> {
  const dir = makeRepo();
  writeFileSync(path.join(dir, 'mission.yaml'), mission);
  const r = await runCli(['validate', path.join(dir, 'mission.yaml')], {
    // No server: an address nothing listens on proves validate needs none.
    env: { FLOTILLA_HOME: home, TEMPORAL_ADDRESS: '127.0.0.1:1' },
  });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  return r.stdout;
}

test('validate prints the policies, the resolver (runtime and model), the land mode and the budget', async () => {
  const out = await validate(`id: checked
agent: { runtime: command, command: [bash, -c, "true"] }
policy: { onTaskFailure: stop-all, onMergeConflict: resolve, onVerifyFailure: revert }
resolver: { runtime: claude, model: claude-opus-4-1 }
land: pr
budget: { usd: 12.5 }
tasks:
  - { id: a, prompt: p }
`);
  expect(out).toContain('\n  policy: onTaskFailure stop-all · onMergeConflict resolve · onVerifyFailure revert\n');
  expect(out).toContain('\n  resolver: [claude] model claude-opus-4-1\n');
  expect(out).toMatch(/\n {2}land: pr \(.+\) · budget: \$12\.5\n/);
  expect(out.trimEnd().endsWith('valid')).toBe(true);
});

test('validate spells out the defaults: no resolver line unless conflicts are resolved, land none, no budget', async () => {
  const out = await validate(`id: defaults
agent: { runtime: claude }
tasks:
  - { id: a, prompt: p }
`);
  expect(out).toContain('\n  policy: onTaskFailure skip-dependents · onMergeConflict pause · onVerifyFailure fix\n');
  expect(out).not.toMatch(/resolver:/);
  expect(out).toMatch(/\n {2}land: none \(.*flotilla land defaults.*\) · budget: none\n/);

  // The resolver defaults to the mission's agent, and its model to the runtime's own.
  const resolve = await validate(`id: resolving
agent: { runtime: codex }
policy: { onMergeConflict: resolve }
tasks:
  - { id: a, prompt: p }
`);
  expect(resolve).toContain("\n  resolver: [codex] model: the runtime's default\n");
});

test('a worker, or a command that needs Temporal, with no service to reach: exit 1 and what to do, no transport dump', async () => {
  for (const args of [['worker'], ['status', 'nothing']]) {
    const r = await runCli(args, { env: { FLOTILLA_HOME: home, TEMPORAL_ADDRESS: '127.0.0.1:1' } });
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 1,
      stderr: expect.stringMatching(
        /^flotilla: cannot reach Temporal at 127\.0\.0\.1:1; start it with `flotilla server`/,
      ),
    });
    expect(r.stderr).not.toMatch(/tonic|transport::Error/);
  }
});
