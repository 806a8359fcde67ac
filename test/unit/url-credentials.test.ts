/**
 * The one helper that takes credentials out of URLs before anything displays or records them
 * (an origin in a search attribute, a summary, a status line, an error message), and the test the
 * validator refuses an `origin:` with.
 */
import { hasUrlCredentials, withoutUrlCredentials } from '../../src/mission/url-credentials';

test('userinfo that may be a secret is stripped from every URL in a text', () => {
  expect(withoutUrlCredentials('https://someone:t0ken@example.com/team/app.git')).toBe(
    'https://example.com/team/app.git',
  );
  // A token alone in the user part (GitHub accepts `https://<token>@github.com/...`).
  expect(withoutUrlCredentials('https://ghp_t0ken@github.com/team/app.git')).toBe('https://github.com/team/app.git');
  // An `@` inside the password: everything up to the last `@` before the host goes.
  expect(withoutUrlCredentials('https://user:p@ss@example.com:8443/app.git')).toBe('https://example.com:8443/app.git');
  expect(withoutUrlCredentials('ssh://git:t0ken@example.com/app.git')).toBe('ssh://example.com/app.git');
  // In free text (git's error output), every URL; the rest is untouched.
  expect(
    withoutUrlCredentials(
      "fatal: unable to access 'https://u:t0ken@example.com/a.git/': 403\nthen http://x:y@h/b and https://example.com/c@d",
    ),
  ).toBe("fatal: unable to access 'https://example.com/a.git/': 403\nthen http://h/b and https://example.com/c@d");
  // A user name for SSH is not a secret (the key is), and it is needed to use the URL.
  expect(withoutUrlCredentials('ssh://git@example.com/team/app.git')).toBe('ssh://git@example.com/team/app.git');
  expect(withoutUrlCredentials('git@example.com:team/app.git')).toBe('git@example.com:team/app.git');
  expect(withoutUrlCredentials('/srv/git/app.git')).toBe('/srv/git/app.git');
});

test('hasUrlCredentials says which origins carry a secret', () => {
  expect(hasUrlCredentials('https://someone:t0ken@example.com/app.git')).toBe(true);
  expect(hasUrlCredentials('https://t0ken@example.com/app.git')).toBe(true);
  expect(hasUrlCredentials('ssh://git:t0ken@example.com/app.git')).toBe(true);
  expect(hasUrlCredentials('ssh://git@example.com/app.git')).toBe(false);
  expect(hasUrlCredentials('git@example.com:team/app.git')).toBe(false);
  expect(hasUrlCredentials('https://example.com/app.git')).toBe(false);
  expect(hasUrlCredentials('../shared/app.git')).toBe(false);
});
