/**
 * The few system calls Node.js does not offer and the differ needs: mknod (devices, FIFOs and
 * overlayfs whiteouts), extended attributes without following symlinks, nanosecond timestamps
 * without following symlinks, and syncfs.
 *
 * They sit behind {@link NativeOps} (ARCHITECTURE §9: privileged and native calls behind an
 * interface with a fake). The real implementation calls glibc through `koffi`, a maintained FFI
 * whose npm package ships prebuilt binaries for linux-x64 (as the optional dependency
 * `@koromix/koffi-linux-x64`), so installing it compiles nothing and downloads nothing besides the
 * registry tarballs. We chose one FFI over the alternatives because it covers every call above in
 * one dependency: `@napi-rs/xattr` has no mknod, `fs-xattr` and `mknod` need node-gyp (and headers
 * from the internet), spawning coreutils `mknod` per device costs a process each (~2 ms) and cannot
 * name non-UTF-8 paths, and Debian's `attr` tools (setfattr/getfattr) would cost a process per file.
 *
 * Paths are Buffers (raw bytes, not necessarily UTF-8), because tar names are bytes.
 */
import { createRequire } from 'node:module';
import { lutimesSync, futimesSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { unimplemented } from '@flotilla/api';
import { systemError } from './io-errors.js';

/** A point in time as seconds and nanoseconds since the epoch (what utimensat takes). */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** File type bits for {@link NativeOps.mknod}. */
export const S_IFCHR = 0o020000;
/** Block device type bits. */
export const S_IFBLK = 0o060000;
/** FIFO type bits. */
export const S_IFIFO = 0o010000;

/**
 * System calls beyond node:fs. Every method throws a Node-style system error (`code` = errno name)
 * on failure.
 */
export interface NativeOps {
  /** Whether extended attributes are supported by this implementation. */
  readonly xattrs: boolean;
  /** mknod(2): `mode` includes the file type bits; major/minor are combined glibc-style. */
  mknod(path: Buffer, mode: number, major: number, minor: number): void;
  /** lsetxattr(2): never follows a final symlink. */
  lsetxattr(path: Buffer, name: string, value: Uint8Array): void;
  /** fsetxattr(2) on an open descriptor. */
  fsetxattr(fd: number, name: string, value: Uint8Array): void;
  /** lgetxattr(2); undefined when the attribute is absent (ENODATA) or unsupported. */
  lgetxattr(path: Buffer, name: string): Buffer | undefined;
  /** llistxattr(2); empty when unsupported. */
  llistxattr(path: Buffer): string[];
  /** utimensat(2) with AT_SYMLINK_NOFOLLOW. */
  lutimens(path: Buffer, atime: Timespec, mtime: Timespec): void;
  /** futimens(2). */
  futimens(fd: number, atime: Timespec, mtime: Timespec): void;
  /** syncfs(2) on the filesystem holding the open descriptor. */
  syncfs(fd: number): void;
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const ENODATA = 61;
const ENOTSUP = 95;
const ERANGE = 34;

/** NUL-terminated copy of a path or name for C. */
function cstr(s: Buffer | string): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const out = Buffer.allocUnsafe(b.length + 1);
  b.copy(out);
  out[b.length] = 0;
  return out;
}

/** glibc's makedev for a 64-bit dev_t. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** glibc's major/minor of a 64-bit dev_t (as returned in bigint stats). */
export function splitDev(dev: bigint): { major: number; minor: number } {
  const major = Number(((dev >> 32n) & 0xfffff000n) | ((dev >> 8n) & 0xfffn));
  const minor = Number(((dev >> 12n) & 0xffffff00n) | (dev & 0xffn));
  return { major, minor };
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = (...args: any[]) => any;

class KoffiOps implements NativeOps {
  readonly xattrs = true;
  private readonly errno: () => number;
  private readonly f: Record<string, Fn>;

  constructor(koffi: any) {
    const libc = koffi.load('libc.so.6');
    koffi.struct('flotilla_timespec', { tv_sec: 'int64_t', tv_nsec: 'int64_t' });
    this.errno = () => koffi.errno() as number;
    this.f = {
      mknod: libc.func('int mknod(const uint8_t *path, uint32_t mode, uint64_t dev)'),
      lsetxattr: libc.func('int lsetxattr(const uint8_t *path, const uint8_t *name, const uint8_t *value, size_t size, int flags)'),
      fsetxattr: libc.func('int fsetxattr(int fd, const uint8_t *name, const uint8_t *value, size_t size, int flags)'),
      lgetxattr: libc.func('intptr_t lgetxattr(const uint8_t *path, const uint8_t *name, uint8_t *value, size_t size)'),
      llistxattr: libc.func('intptr_t llistxattr(const uint8_t *path, uint8_t *list, size_t size)'),
      utimensat: libc.func('int utimensat(int dirfd, const uint8_t *path, const flotilla_timespec *times, int flags)'),
      futimens: libc.func('int futimens(int fd, const flotilla_timespec *times)'),
      syncfs: libc.func('int syncfs(int fd)'),
    };
  }

  private check(rc: number, syscall: string, path?: Buffer | number): void {
    if (rc < 0) throw systemError(this.errno(), syscall, path === undefined ? undefined : String(path));
  }

  mknod(path: Buffer, mode: number, major: number, minor: number): void {
    this.check(this.f.mknod!(cstr(path), mode >>> 0, makedev(major, minor)), 'mknod', path);
  }

  lsetxattr(path: Buffer, name: string, value: Uint8Array): void {
    const v = value.length ? value : Buffer.alloc(1);
    this.check(this.f.lsetxattr!(cstr(path), cstr(name), v, value.length, 0), `lsetxattr(${name})`, path);
  }

  fsetxattr(fd: number, name: string, value: Uint8Array): void {
    const v = value.length ? value : Buffer.alloc(1);
    this.check(this.f.fsetxattr!(fd, cstr(name), v, value.length, 0), `fsetxattr(${name})`);
  }

  lgetxattr(path: Buffer, name: string): Buffer | undefined {
    const p = cstr(path);
    const n = cstr(name);
    let buf = Buffer.allocUnsafe(256);
    for (;;) {
      const rc = Number(this.f.lgetxattr!(p, n, buf, buf.length));
      if (rc >= 0) return Buffer.from(buf.subarray(0, rc));
      const e = this.errno();
      if (e === ENODATA || e === ENOTSUP) return undefined;
      if (e !== ERANGE) throw systemError(e, `lgetxattr(${name})`, String(path));
      const size = Number(this.f.lgetxattr!(p, n, null, 0));
      if (size < 0) throw systemError(this.errno(), `lgetxattr(${name})`, String(path));
      buf = Buffer.allocUnsafe(Math.max(size, 1));
    }
  }

  llistxattr(path: Buffer): string[] {
    const p = cstr(path);
    let buf = Buffer.allocUnsafe(1024);
    for (;;) {
      const rc = Number(this.f.llistxattr!(p, buf, buf.length));
      if (rc >= 0) {
        if (rc === 0) return [];
        return buf.subarray(0, rc).toString('utf8').split('\0').filter((s) => s.length > 0);
      }
      const e = this.errno();
      if (e === ENOTSUP) return [];
      if (e !== ERANGE) throw systemError(e, 'llistxattr', String(path));
      const size = Number(this.f.llistxattr!(p, null, 0));
      if (size < 0) throw systemError(this.errno(), 'llistxattr', String(path));
      buf = Buffer.allocUnsafe(Math.max(size, 1));
    }
  }

  lutimens(path: Buffer, atime: Timespec, mtime: Timespec): void {
    const times = [
      { tv_sec: atime.sec, tv_nsec: atime.nsec },
      { tv_sec: mtime.sec, tv_nsec: mtime.nsec },
    ];
    this.check(this.f.utimensat!(AT_FDCWD, cstr(path), times, AT_SYMLINK_NOFOLLOW), 'utimensat', path);
  }

  futimens(fd: number, atime: Timespec, mtime: Timespec): void {
    const times = [
      { tv_sec: atime.sec, tv_nsec: atime.nsec },
      { tv_sec: mtime.sec, tv_nsec: mtime.nsec },
    ];
    this.check(this.f.futimens!(fd, times), 'futimens');
  }

  syncfs(fd: number): void {
    this.check(this.f.syncfs!(fd), 'syncfs');
  }
}

/**
 * A fallback without native code: timestamps through node:fs (microsecond precision), devices
 * through coreutils `mknod` (one process each; UTF-8 names only), no extended attributes (setting
 * one fails with Unimplemented) and syncfs as a no-op. Also serves as the fake for tests.
 */
export class PortableOps implements NativeOps {
  readonly xattrs = false;

  mknod(path: Buffer, mode: number, major: number, minor: number): void {
    const kind = (mode & 0o170000) === S_IFCHR ? 'c' : (mode & 0o170000) === S_IFBLK ? 'b' : 'p';
    const args = ['-m', (mode & 0o7777).toString(8), '--', path.toString('utf8'), kind];
    if (kind !== 'p') args.push(String(major), String(minor));
    const r = spawnSync('mknod', args, { encoding: 'utf8' });
    if (r.error) throw r.error;
    if (r.status !== 0) {
      const err = systemError(/EEXIST|exists/.test(r.stderr) ? 17 : 1, 'mknod', path.toString('utf8'));
      err.message += ` (${r.stderr.trim()})`;
      throw err;
    }
  }

  lsetxattr(_path: Buffer, name: string): void {
    throw unimplemented(`setting xattr ${name} without the native helper`);
  }

  fsetxattr(_fd: number, name: string): void {
    throw unimplemented(`setting xattr ${name} without the native helper`);
  }

  lgetxattr(): Buffer | undefined {
    return undefined;
  }

  llistxattr(): string[] {
    return [];
  }

  lutimens(path: Buffer, atime: Timespec, mtime: Timespec): void {
    lutimesSync(path, atime.sec + atime.nsec / 1e9, mtime.sec + mtime.nsec / 1e9);
  }

  futimens(fd: number, atime: Timespec, mtime: Timespec): void {
    futimesSync(fd, atime.sec + atime.nsec / 1e9, mtime.sec + mtime.nsec / 1e9);
  }

  syncfs(): void {}
}

let defaultOps: NativeOps | undefined;
let loadError: unknown;

/**
 * The native implementation (glibc through koffi), loaded once. Falls back to {@link PortableOps}
 * when koffi cannot be loaded; {@link nativeLoadError} then tells why.
 */
export function defaultNativeOps(): NativeOps {
  if (!defaultOps) {
    try {
      const require = createRequire(import.meta.url);
      defaultOps = new KoffiOps(require('koffi'));
    } catch (err) {
      loadError = err;
      defaultOps = new PortableOps();
    }
  }
  return defaultOps;
}

/** Why the native implementation could not be loaded, if it could not. */
export function nativeLoadError(): unknown {
  defaultNativeOps();
  return loadError;
}
