/**
 * What the kernel offers the overlayfs snapshotter, probed the way containerd 1.6 does
 * (`snapshots/overlay/overlayutils/check.go`, `overlay.go supportsIndex`).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs a privileged command (mount/umount); replaceable in tests. */
export type CommandRunner = (file: string, args: string[]) => Promise<void>;

/** Runs `file` with `args`, rejecting with its stderr on failure. */
export const runCommand: CommandRunner = async (file, args) => {
  try {
    await run(file, args, { timeout: 30_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`${file} ${args.join(' ')}: ${stderr || (err as Error).message}`, { cause: err });
  }
};

/** Whether `/proc/filesystems` lists overlay. */
export function overlayListed(procFilesystems = '/proc/filesystems'): boolean {
  try {
    return readFileSync(procFilesystems, 'utf8').split('\n').some((l) => l.trim().split(/\s+/).pop() === 'overlay');
  } catch {
    return false;
  }
}

/**
 * Why overlayfs cannot serve snapshots under `root`, or undefined when it can: overlay must be a
 * known filesystem and an overlay with two lower dirs must mount there (containerd's
 * `SupportsMultipleLowerDir`, which also proves d_type support of the backing filesystem).
 */
export async function overlayUnsupportedReason(root: string, runner: CommandRunner = runCommand): Promise<string | undefined> {
  if (!overlayListed()) return 'overlay is not listed in /proc/filesystems';
  await mkdir(root, { recursive: true, mode: 0o700 });
  const td = await mkdtemp(join(root, 'multiple-lowerdir-check'));
  try {
    for (const d of ['lower1', 'lower2', 'upper', 'work', 'merged']) await mkdir(join(td, d));
    const merged = join(td, 'merged');
    const opts = `lowerdir=${join(td, 'lower2')}:${join(td, 'lower1')},upperdir=${join(td, 'upper')},workdir=${join(td, 'work')}`;
    try {
      await runner('mount', ['-t', 'overlay', 'overlay', '-o', opts, merged]);
    } catch (err) {
      return `failed to mount overlay: ${(err as Error).message}`;
    }
    await runner('umount', [merged]).catch(() => undefined);
    return undefined;
  } finally {
    await rm(td, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Whether the overlay module knows `index=` (containerd then mounts with `index=off`). */
export function supportsIndexOff(): boolean {
  return existsSync('/sys/module/overlay/parameters/index');
}

/** Whether this process runs in a user namespace other than the initial one (containerd `userns.RunningInUserNS`). */
export function runningInUserNS(uidMap = '/proc/self/uid_map'): boolean {
  try {
    const text = readFileSync(uidMap, 'utf8').trim();
    const [a, b, c] = text.split(/\s+/);
    // The initial namespace maps the whole range: "0 0 4294967295".
    return !(a === '0' && b === '0' && c === '4294967295');
  } catch {
    return false;
  }
}

const TMPFS_MAGIC = 0x01021994;

/**
 * Whether overlay mounts need `userxattr` (containerd `NeedsUserXAttr`): never for the real root; in
 * a user namespace, not on tmpfs, and yes on kernels ≥ 5.11. (containerd also probes older kernels
 * with a test mount; Flotilla assumes no userxattr there.)
 */
export function needsUserXattr(root: string): boolean {
  if (!runningInUserNS()) return false;
  try {
    if (statfsSync(root).type === TMPFS_MAGIC) return false;
  } catch {
    return false;
  }
  const [major = 0, minor = 0] = release().split(/[.-]/).map((x) => Number.parseInt(x, 10));
  return major > 5 || (major === 5 && minor >= 11);
}
