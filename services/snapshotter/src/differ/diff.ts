/**
 * Producing a layer: an uncompressed tar of what a snapshot changed relative to its parent
 * (containerd's walking differ: `archive.WriteDiff` with continuity `fs.Changes`, or
 * `fs.DiffDirChanges` for an overlayfs upper, written by `archive.ChangeWriter`).
 *
 * - `overlay-upper`: walks only the upper directory. Every non-directory there is a change; a
 *   character device 0:0 becomes `.wh.<name>` (when the name exists in the lowers); a directory with
 *   `trusted.overlay.opaque=y` is written followed by `.wh..wh..opq`; other directories are written
 *   when they are new or their mode, owner, mtime or xattrs differ from the lowers, and otherwise only
 *   as parents of written entries. Uppers using overlayfs `redirect_dir` or `metacopy` cannot be
 *   diffed by walking and are FailedPrecondition.
 * - `dir`: walks the tree and its parent view together in name order (continuity's double walk).
 *   Names only in the parent become `.wh.<name>` (a removed directory's children are implied);
 *   names only in the tree are written with their whole subtree; for names in both, entries are
 *   compared as continuity's `sameFile` does — type, mode, owner, device number, `security.capability`,
 *   and for non-directories size and mtime, with the content (or link target) compared when both
 *   mtimes lack nanoseconds — plus the user.* xattrs we write and symlink targets.
 *
 * Entries come in lexical byte order, parents before children; unchanged parents of written entries
 * are written too. Hardlinks (same inode, more than one link) are written once, later names as links
 * to the first; names linked to a written inode but unchanged themselves are written as links as well
 * (ChangeWriter's `inodeRefs`). Times are whole seconds (containerd truncates); whiteouts have mode 0,
 * owner 0 and time 0 (containerd 2.x). Xattrs written: `security.capability` (containerd's choice)
 * and `user.*` (so a round trip keeps them). Sockets are skipped.
 */
import { closeSync, fstatSync, openSync, readSync, readdirSync, readlinkSync, type BigIntStats, constants as fsc } from 'node:fs';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { Code, FlotillaError, canceled, failedPrecondition, invalidArgument, kindError } from '@flotilla/api';
import { ScopedRoot, type ByteString } from './safe-path.js';
import { LayeredView, type ViewEntry } from './layered-view.js';
import { defaultNativeOps, splitDev, type NativeOps } from './native.js';
import { TypeFlag } from './tar-format.js';
import { END_OF_ARCHIVE, dataPadding, encodeHeader, type HeaderFields } from './tar-writer.js';
import { OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX, isOverlayWhiteout } from './whiteouts.js';
import { ioFailure } from './io-errors.js';

/** The changed side of a diff. */
export type DiffUpper =
  | { kind: 'overlay-upper'; /** the snapshot's upper directory */ upper: string }
  | {
      kind: 'dir';
      /** the full tree of the snapshot */
      root: string;
      /** the full tree of its parent; when absent the parent view is `lowerDirs` (overlay-merged) */
      parentRoot?: string;
    };

/** Options of {@link diffLayer}. */
export interface DiffOptions {
  /** Stops the stream (Canceled). */
  signal?: AbortSignal;
  /** System calls beyond node:fs; defaults to the native implementation. */
  native?: NativeOps;
  /** Which xattrs to write; default `security.capability` and `user.*`. */
  includeXattr?: (name: string) => boolean;
}

/** The default xattr selection. */
export function defaultIncludeXattr(name: string): boolean {
  return name === 'security.capability' || name.startsWith('user.');
}

const OUT_CHUNK = 256 * 1024;
const READ_CHUNK = 1024 * 1024;
const NS = 1_000_000_000n;

/** What the walk hands to the writer. */
type Op = { t: 'header'; h: HeaderFields } | { t: 'file'; h: HeaderFields; host: Buffer; st: BigIntStats };

interface Node {
  comps: string[];
  host: Buffer;
  st: BigIntStats;
}

class Walker {
  private readonly emittedDirs = new Set<string>();
  private readonly inodeSrc = new Map<string, ByteString>();
  private readonly inodeRefs = new Map<string, ByteString[]>();

  constructor(
    private readonly tree: ScopedRoot,
    private readonly lower: LayeredView,
    private readonly native: NativeOps,
    private readonly include: (name: string) => boolean,
  ) {}

  // ---- entry construction ----------------------------------------------------------------

  private xattrs(host: Buffer): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    const names = this.native.llistxattr(host).filter((n) => this.include(n)).sort();
    for (const n of names) {
      const v = this.native.lgetxattr(host, n);
      if (v !== undefined) out.set(n, v);
    }
    return out;
  }

  private header(n: Node): Op | undefined {
    const { st } = n;
    const name = n.comps.join('/');
    const base: HeaderFields = {
      name,
      typeflag: TypeFlag.Reg,
      mode: Number(st.mode) & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: 0,
      mtime: Number(st.mtimeNs / NS) - (st.mtimeNs < 0n && st.mtimeNs % NS !== 0n ? 1 : 0),
    };
    const xattrs = this.xattrs(n.host);
    if (xattrs.size) base.xattrs = xattrs;
    if (st.isDirectory()) return { t: 'header', h: { ...base, name: `${name}/`, typeflag: TypeFlag.Dir } };
    if (st.isSymbolicLink()) {
      let target: Buffer;
      try {
        target = readlinkSync(n.host, { encoding: 'buffer' });
      } catch (err) {
        throw ioFailure('readlink', this.tree.display(n.comps), err);
      }
      return { t: 'header', h: { ...base, typeflag: TypeFlag.Symlink, linkname: target.toString('latin1') } };
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = splitDev(st.rdev);
      const typeflag = st.isCharacterDevice() ? TypeFlag.Char : TypeFlag.Block;
      return { t: 'header', h: { ...base, typeflag, devmajor: major, devminor: minor } };
    }
    if (st.isFIFO()) return { t: 'header', h: { ...base, typeflag: TypeFlag.Fifo } };
    if (st.isSocket()) return undefined;
    return { t: 'file', h: { ...base, size: Number(st.size) }, host: n.host, st };
  }

  /** Writes the not-yet-written directories above `comps` (ChangeWriter's includeParents). */
  private *parents(comps: string[]): Generator<Op> {
    for (let i = 1; i < comps.length; i++) {
      const p = comps.slice(0, i);
      const key = p.join('/');
      if (this.emittedDirs.has(key)) continue;
      this.emittedDirs.add(key);
      const st = this.tree.lstat(p);
      if (!st?.isDirectory()) throw failedPrecondition(`${this.tree.display(p)} changed during diff`);
      yield this.header({ comps: p, host: this.tree.host(p), st })!;
    }
  }

  /** Writes one changed entry (and its parents, and pending hardlinks to it). */
  private *emit(n: Node, linkedUnmodified = false): Generator<Op> {
    const isLinked = !n.st.isDirectory() && n.st.nlink > 1n;
    const name = n.comps.join('/');
    let additional: ByteString[] | undefined;
    if (isLinked) {
      const key = `${n.st.dev}:${n.st.ino}`;
      const src = this.inodeSrc.get(key);
      if (src !== undefined) {
        yield* this.parents(n.comps);
        const op = this.header(n)!;
        yield { t: 'header', h: { ...op.h, typeflag: TypeFlag.Link, linkname: src, size: 0 } };
        return;
      }
      if (linkedUnmodified) {
        const refs = this.inodeRefs.get(key) ?? [];
        refs.push(name);
        this.inodeRefs.set(key, refs);
        return;
      }
      this.inodeSrc.set(key, name);
      additional = this.inodeRefs.get(key);
      this.inodeRefs.delete(key);
    } else if (linkedUnmodified) {
      return;
    }
    yield* this.parents(n.comps);
    const op = this.header(n);
    if (!op) return;
    if (n.st.isDirectory()) this.emittedDirs.add(name);
    yield op;
    for (const extra of additional ?? []) {
      const comps = extra.split('/');
      yield* this.parents(comps);
      yield { t: 'header', h: { ...op.h, name: extra, typeflag: TypeFlag.Link, linkname: name, size: 0 } };
    }
  }

  private *whiteout(parent: string[], name: ByteString, marker = `${WHITEOUT_PREFIX}${name}`): Generator<Op> {
    const comps = [...parent, marker];
    yield* this.parents(comps);
    yield {
      t: 'header',
      h: { name: comps.join('/'), typeflag: TypeFlag.Reg, mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 },
    };
  }

  private readdirSorted(comps: string[]): string[] {
    try {
      return readdirSync(this.tree.host(comps), { encoding: 'buffer' })
        .map((b) => b.toString('latin1'))
        .sort();
    } catch (err) {
      throw ioFailure('readdir', this.tree.display(comps), err);
    }
  }

  private node(comps: string[]): Node {
    const st = this.tree.lstat(comps);
    if (!st) throw failedPrecondition(`${this.tree.display(comps)} changed during diff`);
    return { comps, host: this.tree.host(comps), st };
  }

  // ---- comparisons ---------------------------------------------------------------------------

  private sameXattrs(a: Buffer, b: Buffer): boolean {
    const xa = this.xattrs(a);
    const xb = this.xattrs(b);
    if (xa.size !== xb.size) return false;
    for (const [k, v] of xa) {
      const w = xb.get(k);
      if (!w || !w.equals(v)) return false;
    }
    const ca = this.native.lgetxattr(a, 'security.capability');
    const cb = this.native.lgetxattr(b, 'security.capability');
    return (ca === undefined && cb === undefined) || (ca !== undefined && cb !== undefined && ca.equals(cb));
  }

  /** continuity's sameFile, plus symlink targets and written xattrs. */
  private same(l: ViewEntry, u: Node): boolean {
    const a = l.st;
    const b = u.st;
    if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return false;
    if (!this.sameXattrs(l.host, u.host)) return false;
    if (b.isDirectory()) return true;
    if (a.size !== b.size) return false;
    const sa = a.mtimeNs / NS;
    const sb = b.mtimeNs / NS;
    if (sa !== sb) return false;
    if (b.isSymbolicLink()) {
      return readlinkSync(l.host, { encoding: 'buffer' }).equals(readlinkSync(u.host, { encoding: 'buffer' }));
    }
    const na = a.mtimeNs % NS;
    const nb = b.mtimeNs % NS;
    if (na === 0n && nb === 0n) return b.size === 0n || sameContent(l.host, u.host);
    return na === nb;
  }

  // ---- walks -----------------------------------------------------------------------------------

  /** Every entry under a directory that is new (no counterpart in the parent view). */
  private *added(comps: string[]): Generator<Op> {
    for (const name of this.readdirSorted(comps)) {
      const n = this.node([...comps, name]);
      yield* this.emit(n);
      if (n.st.isDirectory()) yield* this.added(n.comps);
    }
  }

  /** Double walk of the tree against the parent view. */
  *doubleWalk(comps: string[]): Generator<Op> {
    const upper = this.readdirSorted(comps);
    const lower = this.lower.list(comps);
    const names = [...new Set([...upper, ...lower.keys()])].sort();
    const inUpper = new Set(upper);
    for (const name of names) {
      const child = [...comps, name];
      const l = lower.get(name);
      if (!inUpper.has(name)) {
        yield* this.whiteout(comps, name);
        continue;
      }
      const u = this.node(child);
      if (!l) {
        yield* this.emit(u);
        if (u.st.isDirectory()) yield* this.added(child);
        continue;
      }
      if (u.st.isDirectory()) {
        if (!l.st.isDirectory()) {
          yield* this.emit(u);
          yield* this.added(child);
        } else {
          if (!this.same(l, u)) yield* this.emit(u);
          yield* this.doubleWalk(child);
        }
        continue;
      }
      if (l.st.isDirectory() || !this.same(l, u)) yield* this.emit(u);
      else yield* this.emit(u, true);
    }
  }

  /** Walk of an overlayfs upper directory. */
  *upperWalk(comps: string[]): Generator<Op> {
    for (const name of this.readdirSorted(comps)) {
      const u = this.node([...comps, name]);
      const xnames = this.native.llistxattr(u.host);
      for (const x of xnames) {
        if (x === `${OVERLAY_XATTR_PREFIX}redirect` || x === `${OVERLAY_XATTR_PREFIX}metacopy`) {
          throw failedPrecondition(`${this.tree.display(u.comps)} uses overlayfs ${x.slice(OVERLAY_XATTR_PREFIX.length)}; cannot diff the upper by walking it`);
        }
      }
      if (isOverlayWhiteout(u.st)) {
        if (this.lower.lookup(u.comps)) yield* this.whiteout(comps, name);
        continue;
      }
      if (!u.st.isDirectory()) {
        yield* this.emit(u);
        continue;
      }
      const opq = xnames.includes(OVERLAY_OPAQUE_XATTR) ? this.native.lgetxattr(u.host, OVERLAY_OPAQUE_XATTR) : undefined;
      const opaque = opq !== undefined && opq.length === 1 && opq[0] === 0x79;
      const l = this.lower.lookup(u.comps);
      const changed =
        opaque ||
        !l ||
        !l.st.isDirectory() ||
        l.st.mode !== u.st.mode ||
        l.st.uid !== u.st.uid ||
        l.st.gid !== u.st.gid ||
        l.st.mtimeNs !== u.st.mtimeNs ||
        !this.sameXattrs(l.host, u.host);
      if (changed) yield* this.emit(u);
      if (opaque) yield* this.whiteout(u.comps, '', OPAQUE_MARKER);
      yield* this.upperWalk(u.comps);
    }
  }
}

function sameContent(a: Buffer, b: Buffer): boolean {
  const fa = openSync(a, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    const fb = openSync(b, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    try {
      const ba = Buffer.allocUnsafe(READ_CHUNK);
      const bb = Buffer.allocUnsafe(READ_CHUNK);
      for (;;) {
        const na = readSync(fa, ba, 0, READ_CHUNK, null);
        const nb = readSync(fb, bb, 0, READ_CHUNK, null);
        if (na !== nb) return false;
        if (na === 0) return true;
        if (!ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
      }
    } finally {
      closeSync(fb);
    }
  } finally {
    closeSync(fa);
  }
}

/**
 * Streams an uncompressed tar of the changes of `upper` relative to its parent view: `lowerDirs`
 * (top first; empty for a base layer), or `upper.parentRoot` for a `dir` upper when given. The caller
 * computes digests (diff ID = sha256 of this stream) and may compress it with {@link compressGzip}.
 * Errors carry a kind (FailedPrecondition when the tree changes under the walk).
 */
export async function* diffLayer(lowerDirs: string[], upper: DiffUpper, opts: DiffOptions = {}): AsyncGenerator<Uint8Array> {
  const native = opts.native ?? defaultNativeOps();
  const include = opts.includeXattr ?? defaultIncludeXattr;
  const root = new ScopedRoot(upper.kind === 'overlay-upper' ? upper.upper : upper.root);
  if (!root.lstat([])?.isDirectory()) throw failedPrecondition(`diff source ${root.root} is not a directory`);
  for (const d of lowerDirs) if (!d.startsWith('/')) throw invalidArgument(`lower ${JSON.stringify(d)} must be absolute`);
  const view =
    upper.kind === 'dir' && upper.parentRoot !== undefined
      ? new LayeredView([upper.parentRoot], false, native)
      : new LayeredView(lowerDirs, true, native);
  const walker = new Walker(root, view, native, include);
  const ops = upper.kind === 'overlay-upper' ? walker.upperWalk([]) : walker.doubleWalk([]);

  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const push = (b: Uint8Array): void => {
    pending.push(b);
    pendingBytes += b.length;
  };
  const take = (): Uint8Array => {
    const out = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  const check = (): void => {
    if (opts.signal?.aborted) throw canceled('diffing snapshot', opts.signal.reason);
  };

  try {
    for (const op of ops) {
      check();
      if (op.t === 'header') {
        push(encodeHeader(op.h));
      } else {
        yield* fileContent(op, push, take, () => pendingBytes);
      }
      if (pendingBytes >= OUT_CHUNK) yield take();
    }
    push(END_OF_ARCHIVE);
    yield take();
  } catch (err) {
    if (err instanceof FlotillaError) throw err;
    throw ioFailure('diffing', root.root, err);
  }
}

async function* fileContent(
  op: Extract<Op, { t: 'file' }>,
  push: (b: Uint8Array) => void,
  take: () => Uint8Array,
  pendingBytes: () => number,
): AsyncGenerator<Uint8Array> {
  const where = op.host.toString('utf8');
  let fd: number;
  try {
    fd = openSync(op.host, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    throw ioFailure('open', where, err, Code.FailedPrecondition);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile() || st.ino !== op.st.ino || st.size !== op.st.size) {
      throw failedPrecondition(`${where} changed during diff`);
    }
    push(encodeHeader(op.h));
    let left = op.h.size;
    while (left > 0) {
      const want = Math.min(left, READ_CHUNK);
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, buf, got, want - got, null);
        if (n === 0) throw failedPrecondition(`${where} shrank during diff`);
        got += n;
      }
      left -= want;
      if (want >= OUT_CHUNK) {
        if (pendingBytes() > 0) yield take();
        yield buf;
      } else {
        push(buf);
      }
    }
    if (readSync(fd, Buffer.allocUnsafe(1), 0, 1, null) !== 0) throw failedPrecondition(`${where} grew during diff`);
    const pad = dataPadding(op.h.size);
    if (pad.length) push(pad);
  } finally {
    closeSync(fd);
  }
}

/** gzip-compresses a stream (node:zlib; `level` defaults to zlib's default, as containerd's). */
export async function* compressGzip(tar: AsyncIterable<Uint8Array>, opts: { level?: number } = {}): AsyncGenerator<Uint8Array> {
  const gz = createGzip({ level: opts.level ?? -1, chunkSize: OUT_CHUNK });
  const input = Readable.from(tar, { objectMode: false });
  let inputError: unknown;
  input.on('error', (err) => {
    inputError = err;
    gz.destroy(err);
  });
  input.pipe(gz);
  try {
    for await (const c of gz as AsyncIterable<Buffer>) yield c;
  } catch (err) {
    if (inputError !== undefined) throw inputError;
    throw kindError(Code.Internal, `gzip: ${err instanceof Error ? err.message : String(err)}`, err);
  } finally {
    input.unpipe(gz);
    input.destroy();
    gz.destroy();
  }
}
