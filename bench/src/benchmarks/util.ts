/** Helpers shared by benchmarks. */
import { spawnSync } from 'node:child_process';
import { status } from '@grpc/grpc-js';
import { isCode } from '../clients.js';
import { runCount } from '../load.js';
import type { Target } from '../types.js';

/** Calls in flight in the throughput benchmarks. */
export const IN_FLIGHT = 16;

/** A namespace name unique to this run (valid containerd identifier). */
export function uniqueName(runId: string, tag: string, round: number | string, i: number | string): string {
  return `b${runId}-${tag}-r${round}-${i}`;
}

/** Creates namespaces (untimed), tolerating ones that exist. */
export async function createAll(t: Target, names: readonly string[]): Promise<void> {
  await runCount(names.length, IN_FLIGHT, async (i) => {
    try {
      await t.clients.createNamespace(names[i]);
    } catch (err) {
      if (!isCode(err, status.ALREADY_EXISTS)) throw err;
    }
  });
}

/** Deletes namespaces (untimed), tolerating ones that are gone. */
export async function deleteAll(t: Target, names: readonly string[]): Promise<void> {
  await runCount(names.length, IN_FLIGHT, async (i) => {
    try {
      await t.clients.deleteNamespace(names[i]);
    } catch (err) {
      if (!isCode(err, status.NOT_FOUND)) throw err;
    }
  });
}

/**
 * Flushes all dirty data to disk (sync(1)), untimed: the storage benchmarks write hundreds of MB
 * and delete as much; without this the next timed run (often the other daemon's) pays for that
 * writeback and for the discards of the deleted blocks.
 */
export function flushDisk(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}
