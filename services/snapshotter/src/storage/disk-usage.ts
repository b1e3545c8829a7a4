/**
 * Disk usage of a directory tree as containerd computes it (`continuity/fs/du_unix.go`): every
 * entry (the root included) is lstat'ed once; each unique (dev, ino) counts as one inode and adds
 * st_blocks × 512 bytes, so hard links count once and sparse files count what they allocate.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Usage } from '../types.js';

/** Filesystem calls in flight at once per walk. */
const PARALLEL = 16;

/** Usage of the tree at `root` (which must exist). Aborts with `signal`'s reason. */
export async function diskUsage(root: string, signal?: AbortSignal): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  const limit = limiter(PARALLEL);
  const visit = async (path: string): Promise<void> => {
    signal?.throwIfAborted();
    const st = await limit(() => lstat(path, { bigint: true }));
    const id = `${st.dev}:${st.ino}`;
    if (!seen.has(id)) {
      seen.add(id);
      size += Number(st.blocks) * 512;
    }
    if (st.isDirectory()) {
      const names = await limit(() => readdir(path));
      await Promise.all(names.map((n) => visit(join(path, n))));
    }
  };
  await visit(root);
  return { size, inodes: seen.size };
}

/** Runs at most `n` of the functions given to it at once. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
