/** Quoting for commands Flotilla prints for people to paste. Pure: the workflows use it too. */

/**
 * `arg` quoted for a POSIX shell when it needs it (single quotes; a `'` inside as `'\''`), so a
 * printed command can be copied and pasted as it is.
 */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
