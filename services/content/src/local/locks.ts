/**
 * Ingest locks: one writer per ingest at a time (containerd's `tryLock`, ErrUnavailable
 * `ref <ref> locked`).
 *
 * Two levels: a process-wide map (any number of store instances on one root in one process agree),
 * and a `lock` file inside the ingest folder naming the owner process (`<pid> <start time>`), so
 * two processes on the same root (replicas) agree too. A lock file whose process is gone — the
 * service was killed while a write was open, or the machine rebooted — is stale: it is taken over on conflict and removed when a store opens. Ingests
 * themselves are never removed by this: they stay resumable.
 */
import { readFileSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { unavailable } from '@flotilla/api';
import { isErrno } from './io-errors.js';

/** Held locks of this process, by lock file path. */
const held = new Map<string, number>();

/**
 * When process `pid` started (clock ticks since boot, field 22 of `/proc/<pid>/stat`), or
 * undefined when it does not exist. With the pid it names a process uniquely even across reboots
 * and pid reuse; without /proc, `kill(pid, 0)` tells whether the pid lives and `'?'` stands in.
 */
export function processStart(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) return undefined;
  }
  try {
    process.kill(pid, 0);
    return '?';
  } catch (err) {
    return isErrno(err, 'EPERM') ? '?' : undefined;
  }
}

const OWN = `${process.pid} ${processStart(process.pid) ?? '?'}`;

/** Whether the owner written in a lock file (`<pid> <start>`) is a process that still runs. */
function ownerAlive(owner: string): boolean {
  const [pid, start] = owner.trim().split(/\s+/);
  const now = processStart(Number(pid));
  return now !== undefined && (start === undefined || start === '?' || now === '?' || now === start);
}

/** The owner line of a lock file, or undefined when it is unreadable. */
async function lockOwner(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whether the lock file at `path` belongs to nobody alive (or to this process but no live writer). */
export async function isStaleLock(path: string): Promise<boolean> {
  const owner = await lockOwner(path);
  if (owner === undefined) return true;
  if (owner === OWN) return !held.has(path);
  return !ownerAlive(owner);
}

/** A lock taken by {@link acquireIngestLock}. */
export interface IngestLock {
  /** Gives the lock up (removes the lock file unless `fileGone`). Idempotent. */
  release(fileGone?: boolean): Promise<void>;
}

/**
 * Takes the lock of the ingest whose lock file is `path` (its folder must exist), or fails with
 * Unavailable `ref <ref> locked`.
 */
export async function acquireIngestLock(path: string, ref: string): Promise<IngestLock> {
  if (held.has(path)) throw locked(ref);
  const since = Date.now();
  held.set(path, since);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o644);
        await fh.writeFile(`${OWN}\n`);
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
        const owner = await lockOwner(path);
        // Ours but not in `held`: a leftover of a writer of this process that failed half-way.
        if (owner !== undefined && owner !== OWN && ownerAlive(owner)) throw locked(ref);
        await rm(path, { force: true });
      }
    }
  } catch (err) {
    held.delete(path);
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw locked(ref);
    throw err;
  }
  let released = false;
  return {
    async release(fileGone = false) {
      if (released) return;
      released = true;
      try {
        if (!fileGone) await rm(path, { force: true });
      } finally {
        if (held.get(path) === since) held.delete(path);
      }
    },
  };
}

function locked(ref: string) {
  return unavailable(`ref ${ref} locked`);
}
