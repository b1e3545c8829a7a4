/**
 * Test support: temporary directories (with mounts undone on cleanup), GNU tar and other tools,
 * overlayfs mounts, and a sample tree holding every kind of entry a layer can carry.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, lchownSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { defaultNativeOps, S_IFBLK, S_IFCHR, S_IFIFO, type NativeOps } from './native.js';

/** Runs a command; throws with its stderr when it fails. Returns stdout. */
export function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.toString()}`);
  return r.stdout;
}

/** Whether a command exists on PATH. */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Temporary directories under one base, removed (after unmounting) by {@link TempDirs.cleanup}. */
export class TempDirs {
  readonly base: string;
  private readonly mounts: string[] = [];
  private n = 0;

  constructor(prefix = 'flotilla-differ-') {
    this.base = mkdtempSync(join(tmpdir(), prefix));
  }

  /** A new empty directory. */
  dir(name = 'd'): string {
    const p = join(this.base, `${name}-${++this.n}`);
    mkdirSync(p);
    return p;
  }

  /** A path for a new file. */
  file(name = 'f'): string {
    return join(this.base, `${name}-${++this.n}`);
  }

  /** Mounts an overlay (lowers top first; read-only without an upper) and remembers to unmount it. */
  mountOverlay(lowers: string[], upper: string | undefined, work: string | undefined, target: string): void {
    const opts = upper ? `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}` : `ro,lowerdir=${lowers.join(':')}`;
    run('mount', ['-t', 'overlay', 'overlay', '-o', opts, target]);
    this.mounts.push(target);
  }

  /**
   * A fresh journaled ext4 filesystem (a sparse image on a loop device), mounted on a new directory:
   * how a snapshotter root looks, and independent of the state of the filesystem holding /tmp.
   * Returns undefined when loop devices or mkfs.ext4 are not available.
   */
  scratchExt4(sizeMiB = 2048): string | undefined {
    if (!have('mkfs.ext4')) return undefined;
    const image = this.file('ext4.img');
    const target = this.dir('ext4');
    try {
      run('truncate', ['-s', `${sizeMiB}M`, image]);
      run('mkfs.ext4', ['-q', '-F', image]);
      run('mount', ['-o', 'loop', image, target]);
    } catch {
      return undefined;
    }
    this.mounts.push(target);
    return target;
  }

  /** Unmounts a mount made by {@link TempDirs.mountOverlay} or {@link TempDirs.scratchExt4}. */
  unmount(target: string): void {
    const i = this.mounts.indexOf(target);
    if (i >= 0) this.mounts.splice(i, 1);
    const r = spawnSync('umount', [target]);
    if (r.status !== 0) spawnSync('umount', ['-l', target]);
  }

  /** Unmounts what is still mounted and removes everything. */
  cleanup(): void {
    for (const m of this.mounts.splice(0).reverse()) {
      const r = spawnSync('umount', [m]);
      if (r.status !== 0) spawnSync('umount', ['-l', m]);
    }
    rmSync(this.base, { recursive: true, force: true });
  }
}

/** GNU tar: a PAX archive of `dir`'s contents (sorted, with xattrs), as bytes. */
export function gnuTarCreate(dir: string): Buffer {
  return run('tar', ['--xattrs', '--xattrs-include=*', '--format=pax', '--sort=name', '--numeric-owner', '-C', dir, '-cf', '-', '.']);
}

/** GNU tar: extracts an archive into `dest` keeping owners, modes and xattrs. */
export function gnuTarExtract(archive: Buffer, dest: string): void {
  run('tar', ['--xattrs', '--xattrs-include=*', '--same-owner', '--same-permissions', '--numeric-owner', '-C', dest, '-xf', '-'], {
    input: archive,
  });
}

/** A `security.capability` value (VFS_CAP_REVISION_2) granting cap_net_raw (13) effective+permitted. */
export const CAP_NET_RAW = Buffer.from([0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

function touch(native: NativeOps, p: string, sec: number, nsec = 0): void {
  native.lutimens(Buffer.from(p), { sec, nsec }, { sec, nsec });
}

/**
 * Fills `root` with every kind of entry: modes with setuid/setgid/sticky, owners, xattrs (user.* and
 * security.capability), symlinks (relative, absolute, dangling, long), hardlinks, FIFOs, devices,
 * long and non-ASCII names, empty and large files, read-only directories, nanosecond mtimes.
 */
export function buildSampleTree(root: string, native: NativeOps = defaultNativeOps()): void {
  const p = (...s: string[]): string => join(root, ...s);
  const md = (rel: string, mode = 0o755, uid = 0, gid = 0): void => {
    mkdirSync(p(rel), { recursive: true });
    chmodSync(p(rel), mode);
    lchownSync(p(rel), uid, gid);
  };
  const wf = (rel: string, data: string | Buffer, mode = 0o644, uid = 0, gid = 0): void => {
    writeFileSync(p(rel), data);
    lchownSync(p(rel), uid, gid);
    chmodSync(p(rel), mode);
  };
  md('etc');
  wf('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  wf('etc/shadow', 'root:*:19000:0:99999:7:::\n', 0o640, 0, 42);
  native.lsetxattr(Buffer.from(p('etc/passwd')), 'user.foo', Buffer.from('bar'));
  native.lsetxattr(Buffer.from(p('etc/passwd')), 'user.empty', Buffer.alloc(0));
  md('bin');
  wf('bin/su', randomBytes(5000), 0o4755);
  wf('bin/wall', randomBytes(700), 0o2755, 0, 5);
  wf('bin/ping', randomBytes(3000), 0o755);
  native.lsetxattr(Buffer.from(p('bin/ping')), 'security.capability', CAP_NET_RAW);
  md('tmp', 0o1777);
  md('srv/data', 0o2775, 1000, 1000);
  native.lsetxattr(Buffer.from(p('srv/data')), 'user.dirattr', Buffer.from([0, 1, 2, 255]));
  wf('srv/data/file.bin', randomBytes(100_000), 0o600, 1000, 1000);
  wf('srv/empty', '');
  wf('srv/big.bin', randomBytes(3 * 1024 * 1024 + 17), 0o644);
  wf('srv/zero-mode', 'x', 0o000);
  md('usr/lib');
  wf('usr/lib/libx.so.1', randomBytes(2048), 0o755);
  linkSync(p('usr/lib/libx.so.1'), p('usr/lib/libx-hard'));
  linkSync(p('usr/lib/libx.so.1'), p('bin/libx-third'));
  symlinkSync('usr/lib', p('lib64'));
  symlinkSync('/etc/passwd', p('abs-link'));
  symlinkSync('nowhere/at/all', p('dangling'));
  symlinkSync('../etc/shadow', p('usr/shadow-link'));
  lchownSync(p('usr/shadow-link'), 1000, 1001);
  const longTarget = `${'t'.repeat(90)}/${'u'.repeat(90)}`;
  symlinkSync(longTarget, p('long-target-link'));
  md('run');
  native.mknod(Buffer.from(p('run/fifo')), S_IFIFO | 0o620, 0, 0);
  md('dev');
  native.mknod(Buffer.from(p('dev/null')), S_IFCHR | 0o666, 1, 3);
  native.mknod(Buffer.from(p('dev/zero')), S_IFCHR | 0o666, 1, 5);
  native.mknod(Buffer.from(p('dev/loop0')), S_IFBLK | 0o660, 7, 0);
  native.mknod(Buffer.from(p('dev/big-numbers')), S_IFCHR | 0o600, 4095, 1048575);
  lchownSync(p('dev/loop0'), 0, 6);
  const deep = join('deep', 'a'.repeat(60), 'b'.repeat(80));
  md(deep);
  wf(join(deep, 'file-with-a-long-path.txt'), 'deep\n');
  md('unicodé');
  wf('unicodé/ñame-日本.txt', 'utf8\n');
  md('ro', 0o755);
  wf('ro/inside', 'ro\n', 0o444);
  chmodSync(p('ro'), 0o555);
  md('private', 0o700, 1234, 5678);
  wf('private/secret', 's', 0o600, 1234, 5678);
  touch(native, p('etc/passwd'), 1_000_000_000, 123_456_789);
  touch(native, p('srv/big.bin'), 1_600_000_000, 1);
  // directory times last (creating children changes them)
  for (const d of ['etc', 'bin', 'tmp', 'srv/data', 'srv', 'usr/lib', 'usr', 'run', 'dev', deep, 'deep', 'unicodé', 'ro', 'private']) {
    touch(native, p(d), 1_500_000_000, 500);
  }
}
