/**
 * Children that die with their parent. Node cannot set PR_SET_PDEATHSIG in a child it spawns, so
 * the command is run through util-linux's `setpriv --pdeathsig` (Debian: essential package), which
 * sets it and execs the command in the same process: the pid is the command's. Without setpriv
 * the command runs as is.
 */
import { existsSync } from 'node:fs';

/** util-linux's setpriv. */
export const SETPRIV = '/usr/bin/setpriv';

/**
 * `[binary, args]` running `binary args…` so that it gets `signal` when the process that spawns it
 * dies (a supervisor killed with SIGKILL must not leave its services and nats-server behind).
 */
export function tiedToParent(binary: string, args: readonly string[], signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): [string, string[]] {
  if (!existsSync(SETPRIV)) return [binary, [...args]];
  return [SETPRIV, ['--pdeathsig', signal, '--', binary, ...args]];
}
