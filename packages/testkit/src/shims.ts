/**
 * Finding the shim processes of one daemon from /proc, for leak checks in system tests.
 *
 * A shim is recognised by its command line: Debian's `containerd-shim-runc-v2`, or Flotilla's
 * shim (`…/shim/dist/main.js`), with `-address <the daemon's gRPC socket>`. A Flotilla shim that
 * its runtime started warm (shim/src/warm.ts) has the action `warm` while idle; once it serves a
 * task it rewrites its process title to `<node> …/main.js -namespace <ns> -id <id> -address <a>`,
 * which /proc shows as one string — both forms are read here.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** One shim process. */
export interface ShimProcess {
  pid: number;
  /** Its `-namespace` and `-id` ('' for an idle warm shim). */
  namespace: string;
  id: string;
  /** An idle warm shim (no task yet). */
  warm: boolean;
}

/** Whether `pid` runs (a zombie not yet reaped counts as gone). */
export function processRuns(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The command line of `pid` as words (a rewritten title is split at spaces); [] when gone. */
export function commandWords(pid: number): string[] {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return [];
  }
  // A rewritten title is one string padded with NULs to the length of the original arguments.
  const words = raw.split('\0').filter((w) => w !== '');
  return words.length === 1 ? words[0]!.split(' ').filter(Boolean) : words;
}

/**
 * The running shims serving the daemon at `address`. Idle warm shims are left out unless
 * `includeWarm`: they belong to the runtime's pool, not to any container.
 */
export function shimProcesses(address: string, opts: { includeWarm?: boolean } = {}): ShimProcess[] {
  const out: ShimProcess[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    const words = commandWords(pid);
    const isShim = words.some((a) => /(containerd-shim-runc-v2|containerd-shim-flotilla-v2|shim\/dist\/main\.js)$/.test(a));
    if (!isShim) continue;
    const flag = (name: string) => {
      const i = words.indexOf(name);
      return i >= 0 ? (words[i + 1] ?? '') : '';
    };
    if (flag('-address') !== address || !processRuns(pid)) continue;
    const warm = words.includes('warm') && !flag('-id');
    if (warm && !opts.includeWarm) continue;
    out.push({ pid, namespace: flag('-namespace'), id: flag('-id'), warm });
  }
  return out;
}
