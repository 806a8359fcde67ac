/**
 * Credentials in URLs (`https://user:token@host/…`, RFC 3986's userinfo): the validator refuses an
 * `origin:` that carries them, and everything that shows or records an origin (search attributes,
 * summaries, status, error text) passes it through {@link withoutUrlCredentials} first. Pure, so
 * workflow code may import it.
 *
 * What counts as a credential: any userinfo with a password (`user:secret@`), and any userinfo at
 * all in a URL whose scheme is not SSH (`https://<token>@github.com/…` is a token alone). An SSH
 * user name (`ssh://git@host/…`, scp-like `git@host:path`) is not a secret (the key is) and stays:
 * the URL does not work without it.
 */

/** `scheme://userinfo@`: the userinfo runs to the last `@` before the path, whitespace or a quote. */
const USERINFO = /\b([a-z][a-z0-9+.-]*):\/\/([^\s/'"`]*)@/gi;
const SSH_SCHEMES = new Set(['ssh', 'git+ssh', 'ssh+git']);

function isSecret(scheme: string, userinfo: string): boolean {
  return userinfo.includes(':') || !SSH_SCHEMES.has(scheme.toLowerCase());
}

/**
 * `text` with the credentials of every URL in it removed (`https://u:t@host/x` →
 * `https://host/x`): for an origin about to be displayed, and for git's output, which may quote it.
 */
export function withoutUrlCredentials(text: string): string {
  return text.replace(USERINFO, (all, scheme: string, userinfo: string) =>
    isSecret(scheme, userinfo) ? `${scheme}://` : all,
  );
}

/** True when the URL `url` carries credentials (see the module's comment for what counts). */
export function hasUrlCredentials(url: string): boolean {
  return withoutUrlCredentials(url) !== url;
}
