/**
 * Test support (also used by the system tests): a comparable description of a directory tree —
 * every entry's name, type, permission bits, owner, size and content hash, link target, device
 * number, mtime, xattrs and hardlink grouping — so two trees (GNU tar's extraction and ours, an
 * overlay mount and a native snapshot, a tree and its diff re-applied) can be checked for equality.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, readdirSync, readlinkSync, constants as fsc, type BigIntStats } from 'node:fs';
import { ScopedRoot } from './safe-path.js';
import { defaultNativeOps, splitDev, type NativeOps } from './native.js';

/** One entry of a manifest. */
export interface ManifestEntry {
  /** Path relative to the tree (UTF-8; other bytes as \xNN). */
  path: string;
  type: 'dir' | 'file' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  /** Permission bits with setuid/setgid/sticky, octal (symlinks: omitted). */
  mode?: string;
  uid: number;
  gid: number;
  /** Regular files. */
  size?: number;
  /** Regular files: sha256 of the content. */
  sha256?: string;
  /** Symlinks: the target (same escaping as path). */
  target?: string;
  /** Devices: "major:minor". */
  rdev?: string;
  /** Modification time: nanoseconds or seconds since the epoch, per {@link ManifestOptions.mtime}. */
  mtime?: string;
  /** Extended attributes, values in hex. */
  xattrs?: Record<string, string>;
  /** Non-directories with several names in the tree: the first of those names (lexically). */
  linkGroup?: string;
}

/** What a manifest records. */
export interface ManifestOptions {
  /** mtime precision: 'ns' (default), 's' (whole seconds) or 'none'. */
  mtime?: 'ns' | 's' | 'none';
  /** Whether directories record their mtime (default true). */
  dirMtime?: boolean;
  /** Whether symlinks record their mtime (default true). */
  symlinkMtime?: boolean;
  /** Which xattrs to record (default: all but `trusted.overlay.*`). */
  xattr?: (name: string) => boolean;
  /** Native calls for xattrs (default: the native implementation). */
  native?: NativeOps;
}

/** Escapes a byte string for display: UTF-8 when valid, \xNN for the other bytes. */
export function escapeBytes(s: string): string {
  const b = Buffer.from(s, 'latin1');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return [...b].map((c) => (c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
  }
}

function typeOf(st: BigIntStats): ManifestEntry['type'] {
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'file';
}

function hashFile(host: Buffer): string {
  const h = createHash('sha256');
  const fd = openSync(host, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Describes the tree under `dir` (the root itself is not included), sorted by path bytes. */
export function treeManifest(dir: string, opts: ManifestOptions = {}): ManifestEntry[] {
  const native = opts.native ?? defaultNativeOps();
  const mtimeMode = opts.mtime ?? 'ns';
  const keepX = opts.xattr ?? ((n: string) => !n.startsWith('trusted.overlay.'));
  const root = new ScopedRoot(dir);
  const out: Array<ManifestEntry & { key: string; inode?: string }> = [];
  const walk = (comps: string[]): void => {
    const names = readdirSync(root.host(comps), { encoding: 'buffer' })
      .map((b) => b.toString('latin1'))
      .sort();
    for (const name of names) {
      const child = [...comps, name];
      const host = root.host(child);
      const st = root.lstat(child)!;
      const type = typeOf(st);
      const e: ManifestEntry & { key: string; inode?: string } = {
        key: child.join('/'),
        path: escapeBytes(child.join('/')),
        type,
        uid: Number(st.uid),
        gid: Number(st.gid),
      };
      if (type !== 'symlink') e.mode = (Number(st.mode) & 0o7777).toString(8).padStart(4, '0');
      if (type === 'file') {
        e.size = Number(st.size);
        e.sha256 = hashFile(host);
      }
      if (type === 'symlink') e.target = escapeBytes(readlinkSync(host, { encoding: 'buffer' }).toString('latin1'));
      if (type === 'char' || type === 'block') {
        const { major, minor } = splitDev(st.rdev);
        e.rdev = `${major}:${minor}`;
      }
      const wantMtime =
        mtimeMode !== 'none' && (type !== 'dir' || opts.dirMtime !== false) && (type !== 'symlink' || opts.symlinkMtime !== false);
      if (wantMtime) e.mtime = mtimeMode === 'ns' ? String(st.mtimeNs) : String(st.mtimeNs / 1_000_000_000n);
      const names = native.llistxattr(host).filter(keepX).sort();
      if (names.length) {
        e.xattrs = {};
        for (const n of names) {
          const v = native.lgetxattr(host, n);
          if (v !== undefined) e.xattrs[n] = v.toString('hex');
        }
      }
      if (type !== 'dir' && st.nlink > 1n) e.inode = `${st.dev}:${st.ino}`;
      out.push(e);
      if (type === 'dir') walk(child);
    }
  };
  walk([]);
  out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const firstOfInode = new Map<string, string>();
  const counts = new Map<string, number>();
  for (const e of out) if (e.inode) counts.set(e.inode, (counts.get(e.inode) ?? 0) + 1);
  return out.map(({ key: _key, inode, ...e }) => {
    if (inode && counts.get(inode)! > 1) {
      const first = firstOfInode.get(inode);
      if (first === undefined) firstOfInode.set(inode, e.path);
      e.linkGroup = first ?? e.path;
    }
    return e;
  });
}

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

/** Human-readable differences between two manifests (at most `limit`); empty when equal. */
export function compareManifests(a: ManifestEntry[], b: ManifestEntry[], limit = 20): string[] {
  const diffs: string[] = [];
  const ma = new Map(a.map((e) => [e.path, e]));
  const mb = new Map(b.map((e) => [e.path, e]));
  const paths = [...new Set([...ma.keys(), ...mb.keys()])].sort();
  for (const p of paths) {
    if (diffs.length >= limit) {
      diffs.push('...');
      break;
    }
    const x = ma.get(p);
    const y = mb.get(p);
    if (!x) diffs.push(`only in second: ${p} ${JSON.stringify(y)}`);
    else if (!y) diffs.push(`only in first: ${p} ${JSON.stringify(x)}`);
    else {
      const sx = canonical(x);
      const sy = canonical(y);
      if (sx !== sy) diffs.push(`differs: ${p}\n  first:  ${sx}\n  second: ${sy}`);
    }
  }
  return diffs;
}
