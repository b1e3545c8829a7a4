/**
 * Ingest locks: one writer per ingest at a time (containerd's `tryLock`, ErrUnavailable
 * `ref <ref> locked`).
 *
 * Two levels: a process-wide map (any number of store instances on one root in one process agree),
 * and a `lock` file holding the owner's pid inside the ingest folder, so two processes on the same
 * root (replicas) agree too. A lock file whose process is gone — the service was killed while a
 * write was open — is stale: it is taken over on conflict and removed when a store opens. Ingests
 * themselves are never removed by this: they stay resumable.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { unavailable } from '@flotilla/api';

/** Held locks of this process, by lock file path. */
const held = new Map<string, number>();

/** Whether process `pid` is alive on this host. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in a lock file, or undefined when it is unreadable. */
async function lockOwner(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the lock file at `path` belongs to nobody alive (or to this process but no live writer). */
export async function isStaleLock(path: string): Promise<boolean> {
  const pid = await lockOwner(path);
  if (pid === undefined) return true;
  if (pid === process.pid) return !held.has(path);
  return !pidAlive(pid);
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
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
        const pid = await lockOwner(path);
        // Ours but not in `held`: a leftover of a writer of this process that failed half-way.
        if (pid !== undefined && pid !== process.pid && pidAlive(pid)) throw locked(ref);
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
