/**
 * Mounting containerd Mount records (`CreateTaskRequest.rootfs`: overlay, bind, tmpfs, …) the way
 * containerd's `mount/mount_linux.go` does, and unmounting them.
 *
 * Not (yet) done like containerd: overlay options longer than a page are refused instead of being
 * shortened with containerd's chdir trick (changing the working directory of a multi-threaded
 * Node process is not safe); `fuse.*` helpers and loop devices are not supported.
 */
import { invalidArgument } from '@flotilla/api';
import { defaultSys } from './native.js';
import { MNT, MS, type Sys } from './sys.js';

/** A containerd mount record (`containerd.types.Mount`). */
export interface MountRecord {
  type: string;
  source: string;
  options: readonly string[];
}

/** Options split into mount(2) flags and the filesystem's data string. */
export interface ParsedMountOptions {
  flags: number;
  data: string;
}

/** containerd's table: an option sets (or, with `clear`, clears) a flag. */
const FLAG_OPTIONS: Record<string, { clear: boolean; flag: number }> = {
  async: { clear: true, flag: MS.SYNCHRONOUS },
  atime: { clear: true, flag: MS.NOATIME },
  bind: { clear: false, flag: MS.BIND },
  defaults: { clear: false, flag: 0 },
  dev: { clear: true, flag: MS.NODEV },
  diratime: { clear: true, flag: MS.NODIRATIME },
  dirsync: { clear: false, flag: MS.DIRSYNC },
  exec: { clear: true, flag: MS.NOEXEC },
  mand: { clear: false, flag: MS.MANDLOCK },
  noatime: { clear: false, flag: MS.NOATIME },
  nodev: { clear: false, flag: MS.NODEV },
  nodiratime: { clear: false, flag: MS.NODIRATIME },
  noexec: { clear: false, flag: MS.NOEXEC },
  nomand: { clear: true, flag: MS.MANDLOCK },
  norelatime: { clear: true, flag: MS.RELATIME },
  nostrictatime: { clear: true, flag: MS.STRICTATIME },
  nosuid: { clear: false, flag: MS.NOSUID },
  rbind: { clear: false, flag: MS.BIND | MS.REC },
  relatime: { clear: false, flag: MS.RELATIME },
  remount: { clear: false, flag: MS.REMOUNT },
  ro: { clear: false, flag: MS.RDONLY },
  rw: { clear: true, flag: MS.RDONLY },
  strictatime: { clear: false, flag: MS.STRICTATIME },
  suid: { clear: true, flag: MS.NOSUID },
  sync: { clear: false, flag: MS.SYNCHRONOUS },
};

/** Propagation flags, applied by a separate mount(2) call. */
const PROPAGATION = MS.SHARED | MS.PRIVATE | MS.SLAVE | MS.UNBINDABLE;

/** The page size, the kernel's limit for the data string. */
const PAGE_SIZE = 4096;

/** mount(2) with the native calls by default; `data` empty means none. */
export function mount(source: string, target: string, fstype: string, flags: number, data = '', sys: Sys = defaultSys()): void {
  sys.mount(source, target, fstype, flags, data);
}

/** umount2(2) with the native calls by default (no retries; see {@link unmount}). */
export function umount2(target: string, flags = 0, sys: Sys = defaultSys()): void {
  sys.umount2(target, flags);
}

/**
 * Splits fstab-style options into flags and data (containerd's parseMountOptions): known flag
 * words set or clear MS_* bits in order, everything else (and `defaults`) goes, comma-joined, to
 * the data string — e.g. `lowerdir=…,upperdir=…` for overlay, `size=…` for tmpfs.
 */
export function parseMountOptions(options: readonly string[]): ParsedMountOptions {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAG_OPTIONS[o];
    if (f && f.flag !== 0) flags = f.clear ? flags & ~f.flag : flags | f.flag;
    else data.push(o);
  }
  return { flags: flags >>> 0, data: data.join(',') };
}

/**
 * Mounts one record on `target` (containerd's Mount.Mount): the mount with every flag but the
 * propagation ones (skipped for a plain remount without data), then a propagation change if one
 * was asked for, then — since the kernel ignores MS_RDONLY on a new bind mount — a read-only
 * remount of a `ro` bind.
 */
export function mountRecord(m: MountRecord, target: string, sys: Sys = defaultSys()): void {
  const { flags, data } = parseMountOptions(m.options);
  if (Buffer.byteLength(data) >= PAGE_SIZE) {
    throw invalidArgument(`mount ${m.type} on ${target}: options are ${Buffer.byteLength(data)} bytes, over one page`);
  }
  const oflags = (flags & ~PROPAGATION) >>> 0;
  if ((flags & MS.REMOUNT) === 0 || data !== '') sys.mount(m.source, target, m.type, oflags, data);
  if ((flags & PROPAGATION) !== 0) {
    sys.mount('', target, '', flags & (PROPAGATION | MS.REC | MS.SILENT), '');
  }
  if ((oflags & (MS.BIND | MS.RDONLY)) === (MS.BIND | MS.RDONLY)) {
    sys.mount('', target, '', (oflags | MS.REMOUNT) >>> 0, '');
  }
}

/**
 * Mounts `mounts` one after the other on `target` (containerd's mount.All); on failure unmounts
 * what this call mounted and rethrows.
 */
export async function mountAll(mounts: readonly MountRecord[], target: string, sys: Sys = defaultSys()): Promise<void> {
  let done = 0;
  try {
    for (const m of mounts) {
      mountRecord(m, target, sys);
      done++;
    }
  } catch (err) {
    for (; done > 0; done--) await unmount(target, MNT.DETACH, sys).catch(() => undefined);
    throw err;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * umount2(target, flags), retrying EBUSY up to 50 times 50 ms apart and treating EINVAL (not a
 * mount point) as done — containerd's mount.Unmount.
 */
export async function unmount(target: string, flags = 0, sys: Sys = defaultSys()): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      sys.umount2(target, flags);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINVAL') return;
      if (code !== 'EBUSY') throw err;
      await sleep(50);
    }
  }
  sys.umount2(target, flags); // the last try reports the error
}

/**
 * Unmounts every mount stacked on `target` until it is no longer a mount point (containerd's
 * mount.UnmountAll); a missing `target` is fine.
 */
export async function unmountAll(target: string, flags = 0, sys: Sys = defaultSys()): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    try {
      sys.umount2(target, flags);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINVAL' || code === 'ENOENT') return;
      if (code !== 'EBUSY') throw err;
      await unmount(target, flags, sys); // retries EBUSY, then throws
    }
  }
  throw invalidArgument(`unmount ${target}: more than 1000 mounts stacked`);
}
