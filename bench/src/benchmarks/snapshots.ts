/** Helpers of benchmarks that create snapshots: removal children first and waiting for the daemon to clear them from disk. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { isCode, type SnapshotInfo } from '../clients.js';
import { runCount, sleep } from '../load.js';
import type { Target } from '../types.js';
import { IN_FLIGHT } from './util.js';

/** The snapshotter of the storage benchmarks. */
export const SNAPSHOTTER = 'overlayfs';
/** How long to wait for removed snapshots to leave the disk (GC) before noting it and moving on. */
const GC_WAIT_MS = 15_000;

/** Snapshot directories of a snapshotter on disk (`<root>/io.containerd.snapshotter.v1.<name>/snapshots/<id>`). */
export function snapshotDirs(t: Target, snapshotter = SNAPSHOTTER): number {
  try {
    return readdirSync(join(t.root, `io.containerd.snapshotter.v1.${snapshotter}`, 'snapshots')).length;
  } catch {
    return 0;
  }
}

/**
 * Removes snapshots children first: repeatedly removes every listed snapshot that no other listed
 * snapshot names as its parent (a level at a time, `IN_FLIGHT` at once), tolerating ones already gone.
 */
export async function removeSnapshots(t: Target, infos: readonly SnapshotInfo[], snapshotter = SNAPSHOTTER): Promise<void> {
  let left = [...infos];
  while (left.length > 0) {
    const parents = new Set(left.map((i) => i.parent));
    const leaves = left.filter((i) => !parents.has(i.name));
    if (leaves.length === 0) throw new Error(`${t.side}: snapshot parent cycle among ${left.map((i) => i.name).join(', ')}`);
    await runCount(leaves.length, IN_FLIGHT, async (i) => {
      try {
        await t.clients.removeSnapshot(snapshotter, leaves[i].name);
      } catch (err) {
        if (!isCode(err, status.NOT_FOUND)) throw err;
      }
    });
    const removed = new Set(leaves.map((i) => i.name));
    left = left.filter((i) => !removed.has(i.name));
  }
}

/** Waits until at most `dirs` snapshot directories are left on disk; notes it (and returns) after a timeout. */
export async function waitSnapshotDirs(t: Target, dirs: number, note: (text: string) => void, snapshotter = SNAPSHOTTER): Promise<void> {
  const until = Date.now() + GC_WAIT_MS;
  let n: number;
  while ((n = snapshotDirs(t, snapshotter)) > dirs) {
    if (Date.now() > until) {
      note(`${n - dirs} removed ${snapshotter} snapshot dir(s) still on disk ${GC_WAIT_MS / 1000} s after Snapshots.Remove (GC has not removed them)`);
      return;
    }
    await sleep(50);
  }
}
