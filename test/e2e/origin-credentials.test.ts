/**
 * `origin:` with credentials in the URL, as a user runs `validate` and `run`: exit 2 on field
 * `origin` with what to do instead, the secret not repeated anywhere, nothing started.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/git';

test('validate and run refuse an origin URL with credentials, without printing them', async () => {
  const dir = tempDir('flotilla-origin-creds-');
  const home = tempDir('flotilla-origin-creds-home-');
  const file = path.join(dir, 'mission.yaml');
  writeFileSync(
    file,
    'id: creds\norigin: https://deploy:s3cr3t-t0ken@git.example.com/team/app.git\n' +
      'tasks: [{ id: a, prompt: p, agent: { runtime: command, command: [x] } }]\n',
  );
  for (const cmd of ['validate', 'run']) {
    // No Temporal service answers at this address: validation must fail before anything needs one.
    const r = await runCli([cmd, file], { env: { FLOTILLA_HOME: home, TEMPORAL_ADDRESS: '127.0.0.1:1' } });
    expect({ cmd, code: r.code }).toEqual({ cmd, code: 2 });
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(
      /origin: the URL carries credentials \(https:\/\/<here>@git\.example\.com\/team\/app\.git\)/,
    );
    expect(r.stderr).toMatch(/fix: .*credential helper.*GIT_ASKPASS.*SSH key/);
    expect(r.stdout + r.stderr).not.toMatch(/s3cr3t|deploy:/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }
  expect(existsSync(path.join(home, 'server.json'))).toBe(false);
});
