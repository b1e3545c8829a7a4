/**
 * Copies a directory tree with everything a layer needs kept: modes, owners, times, xattrs, hard
 * links, symlinks, device nodes, fifos and sockets. containerd's native snapshotter uses
 * `continuity/fs.CopyDir`; Flotilla runs GNU `cp -a --reflink=auto` (coreutils), which preserves
 * all of the above (`-a` = `-dR --preserve=all`), shares extents on filesystems with reflinks
 * (btrfs, xfs) and is much faster than a copy loop in JavaScript.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { internal } from '@flotilla/api';

const run = promisify(execFile);

/** Copies the tree at `src` to `dst`, which must not exist yet; `dst` gets `src`'s own attributes too. */
export async function copyTree(src: string, dst: string, cp = 'cp'): Promise<void> {
  try {
    await run(cp, ['-a', '--reflink=auto', '--no-target-directory', '--', src, dst], { maxBuffer: 1024 * 1024 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw internal(`copying of parent failed: ${stderr || (err as Error).message}`, err);
  }
}
