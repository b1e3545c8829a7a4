/**
 * Applying a layer (a possibly compressed tar of changes) to a snapshot directory: containerd's
 * `archive.Apply` / `applyNaive` and the overlay variant `OverlayConvertWhiteout`, plus Diff.Apply's
 * diff ID (sha256 of the whole uncompressed stream, read to its end).
 *
 * Two targets:
 * - `overlay-upper`: the upper directory of an overlayfs snapshot whose lower layers are `lowers`
 *   (top first). Whiteouts become character devices 0:0, opaque markers set
 *   `trusted.overlay.opaque=y` on their directory (nothing is removed: the upper holds only this
 *   layer), and a missing parent directory is created with the owner, mode, times and xattrs of the
 *   same directory in the first lower that has it (containerd `mkparent` with `WithParents`).
 * - `dir`: a full tree (the native snapshotter copies the parent). Whiteouts delete the named path;
 *   an opaque marker deletes every existing child of its directory that this layer did not write.
 *
 * Entry rules (containerd `createTarFile`): an existing path is removed first unless both it and the
 * entry are directories (then they merge and the directory takes the entry's metadata); files are
 * written through a fresh descriptor (O_EXCL|O_NOFOLLOW); symlink targets are kept verbatim and never
 * followed; hardlinks must name an existing non-directory inside the same tree; devices and FIFOs
 * are made with mknod (devices are skipped with a warning when not root, like containerd rootless).
 * Then, in this order: owner (lchown), xattrs, mode (not for symlinks), times (atime = the later of
 * atime and mtime; times before 1970 become the epoch). Directory times are set after every entry.
 * Xattrs: `trusted.*` from an archive is ignored with a warning (containerd refuses admin attributes,
 * and `trusted.overlay.*` would steer overlayfs); EOPNOTSUPP is a warning; EPERM on `user.*` for
 * something other than a file or directory is a warning; any other failure is an error.
 *
 * Paths: see safe-path.ts. Nothing is ever written outside the target, and a malicious name is an
 * InvalidArgument. On failure the target may hold part of the layer: the caller discards the snapshot.
 *
 * The extraction is synchronous per chunk (system calls on the event loop, between reads): for the
 * small-file-heavy trees layers are made of, this beats a thread-pool round trip per call.
 */
import {
  closeSync,
  fchmodSync,
  fchownSync,
  chmodSync,
  lchownSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeSync,
  constants as fsc,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { isAbsolute } from 'node:path';
import { Code, FlotillaError, canceled, invalidArgument, kindError, unimplemented } from '@flotilla/api';
import { decompressStream, type ByteSource, type Compression } from './decompress.js';
import { declaredCompression } from './media-types.js';
import { defaultNativeOps, S_IFBLK, S_IFCHR, S_IFIFO, type NativeOps, type Timespec } from './native.js';
import { ScopedRoot, displayName, entryComponents } from './safe-path.js';
import { TarParser, type TarSink } from './tar-reader.js';
import type { TarEntry } from './tar-format.js';
import { classifyWhiteout, OVERLAY_OPAQUE_XATTR } from './whiteouts.js';
import { errnoName, ioFailure } from './io-errors.js';

/** Where a layer is applied. */
export type ApplyTarget =
  | {
      kind: 'overlay-upper';
      /** The snapshot's upper directory (the layer is written here). */
      upper: string;
      /** The parent snapshots' directories, top first (read only; used for parent attributes). */
      lowers: string[];
    }
  | {
      kind: 'dir';
      /** A full tree (native snapshot: a copy of the parent) the layer is applied onto. */
      root: string;
    };

/** Minimal logger (pino-compatible) for warnings about skipped content. */
export interface DifferLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** Options of {@link applyLayer}. */
export interface ApplyOptions {
  /** The layer's media type (see media-types.ts); unknown types are Unimplemented. */
  mediaType: string;
  /** Cancels the apply (Canceled). The target then holds part of the layer. */
  signal?: AbortSignal;
  /** Receives warnings (ignored xattrs, devices skipped when not root). */
  log?: DifferLogger;
  /** System calls beyond node:fs; defaults to the native implementation. */
  native?: NativeOps;
  /** syncfs(2) the target's filesystem before returning (containerd's `sync_fs`). */
  syncFs?: boolean;
}

/** What {@link applyLayer} returns. */
export interface ApplyResult {
  /** `sha256:<hex>` of the uncompressed stream, trailing bytes included: the layer's diff ID. */
  diffId: string;
  /** Uncompressed bytes read. */
  size: number;
  /** Compression found in the stream. */
  compression: Compression;
  /** Entries in the archive (PAX and long-name headers not counted). */
  entries: number;
}

const OPEN_NEW_FILE = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
const EPOCH: Timespec = { sec: 0, nsec: 0 };

function boundTime(t: Timespec): Timespec {
  return t.sec < 0 ? EPOCH : t;
}

function later(a: Timespec, b: Timespec): Timespec {
  return a.sec > b.sec || (a.sec === b.sec && a.nsec > b.nsec) ? a : b;
}

interface OpenFile {
  fd: number;
  entry: TarEntry;
  comps: string[];
  written: number;
}

/** The tar sink that writes entries into the target. Exported for tests; use {@link applyLayer}. */
export class Extractor implements TarSink {
  private readonly tree: ScopedRoot;
  private readonly lowers: ScopedRoot[];
  private readonly overlay: boolean;
  private readonly native: NativeOps;
  private readonly log: DifferLogger | undefined;
  private readonly isRoot: boolean;
  /** parent name → resolved real components (valid until something is removed). */
  private readonly parents = new Map<string, string[]>();
  /** (dir target) real paths written by this layer, and their ancestors, for opaque markers. */
  private readonly written = new Set<string>();
  private readonly ancestors = new Set<string>();
  private readonly opaqueDone = new Set<string>();
  private readonly dirTimes: Array<{ comps: string[]; atime: Timespec; mtime: Timespec }> = [];
  private file: OpenFile | undefined;
  private readonly warned = new Set<string>();

  /** `asRoot` overrides the check for root (devices are skipped when not root). */
  constructor(target: ApplyTarget, opts: { native?: NativeOps; log?: DifferLogger; asRoot?: boolean } = {}) {
    this.isRoot = opts.asRoot ?? process.getuid?.() === 0;
    this.overlay = target.kind === 'overlay-upper';
    this.tree = new ScopedRoot(target.kind === 'overlay-upper' ? target.upper : target.root);
    this.lowers = target.kind === 'overlay-upper' ? target.lowers.map((l) => new ScopedRoot(l)) : [];
    this.native = opts.native ?? defaultNativeOps();
    this.log = opts.log;
  }

  entry(e: TarEntry): void {
    if (e.kind === 'other') {
      throw unimplemented(`tar entry type ${JSON.stringify(e.typeflag)} for ${JSON.stringify(displayName(e.name))}`);
    }
    const comps = entryComponents(e.name);
    if (comps.length === 0) return; // the root itself: ignored, as containerd does
    const base = comps[comps.length - 1]!;
    const parent = this.parentDir(comps.slice(0, -1), e);

    const wh = classifyWhiteout(base);
    if (wh.kind === 'opaque') return this.opaque(parent);
    if (wh.kind === 'whiteout') return this.whiteout([...parent, wh.target], e);

    const path = [...parent, base];
    const existing = this.tree.lstat(path);
    if (existing && !(existing.isDirectory() && e.kind === 'dir')) this.remove(path);

    const host = this.tree.host(path);
    const where = (): string => this.tree.display(path);
    switch (e.kind) {
      case 'dir':
        if (!existing?.isDirectory()) {
          try {
            mkdirSync(host, { mode: e.mode & 0o777 });
          } catch (err) {
            throw ioFailure('mkdir', where(), err);
          }
        }
        this.finishByPath(path, e, 'dir');
        break;
      case 'file': {
        let fd: number;
        try {
          fd = openSync(host, OPEN_NEW_FILE, 0o600);
        } catch (err) {
          throw ioFailure('create', where(), err);
        }
        this.file = { fd, entry: e, comps: path, written: 0 };
        break;
      }
      case 'symlink':
        try {
          symlinkSync(Buffer.from(e.linkname, 'latin1'), host);
        } catch (err) {
          throw ioFailure('symlink', where(), err);
        }
        this.finishByPath(path, e, 'symlink');
        break;
      case 'hardlink': {
        const target = this.linkTarget(e);
        try {
          linkSync(this.tree.host(target.comps), host);
        } catch (err) {
          throw ioFailure('link', where(), err);
        }
        this.finishByPath(path, e, target.symlink ? 'symlink' : target.regular ? 'file' : 'other');
        break;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        if (e.kind !== 'fifo' && !this.isRoot) {
          this.warnOnce('device ignored: not running as root', { name: displayName(e.name) });
          return;
        }
        const type = e.kind === 'char' ? S_IFCHR : e.kind === 'block' ? S_IFBLK : S_IFIFO;
        if (e.devmajor < 0 || e.devmajor > 0xffffffff || e.devminor < 0 || e.devminor > 0xffffffff) {
          throw invalidArgument(`device number ${e.devmajor}:${e.devminor} of ${JSON.stringify(displayName(e.name))} out of range`);
        }
        try {
          this.native.mknod(host, type | (e.mode & 0o7777), e.devmajor, e.devminor);
        } catch (err) {
          throw ioFailure('mknod', where(), err);
        }
        this.finishByPath(path, e, 'other');
        break;
      }
    }
    this.markWritten(path);
  }

  data(piece: Uint8Array): void {
    const f = this.file;
    if (!f) return; // data of an ignored entry
    let off = 0;
    while (off < piece.length) {
      let n: number;
      try {
        n = writeSync(f.fd, piece, off, piece.length - off);
      } catch (err) {
        throw ioFailure('write', this.tree.display(f.comps), err);
      }
      off += n;
    }
    f.written += piece.length;
  }

  entryEnd(): void {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    const { fd, entry: e } = f;
    const where = (): string => this.tree.display(f.comps);
    try {
      if (f.written !== e.size) throw kindError(Code.DataLoss, `${where()}: wrote ${f.written} of ${e.size} bytes`);
      try {
        fchownSync(fd, e.uid, e.gid);
      } catch (err) {
        throw ioFailure('chown', where(), err);
      }
      this.setXattrs(e, where, true, (name, value) => this.native.fsetxattr(fd, name, value));
      try {
        fchmodSync(fd, e.mode & 0o7777);
        this.native.futimens(fd, boundTime(later(e.atime ?? e.mtime, e.mtime)), boundTime(e.mtime));
      } catch (err) {
        throw ioFailure('chmod/utimens', where(), err);
      }
    } finally {
      try {
        closeSync(fd);
      } catch {
        // closing a descriptor we own cannot fail in a way we could act on
      }
    }
  }

  /** Sets the directory times recorded during the apply (after every entry, as containerd). */
  finish(): void {
    for (const d of this.dirTimes) {
      const comps = [...this.tree.resolve(d.comps.slice(0, -1)), d.comps[d.comps.length - 1]!];
      const st = this.tree.lstat(comps);
      if (!st?.isDirectory()) continue; // replaced later in the layer
      try {
        this.native.lutimens(this.tree.host(comps), d.atime, d.mtime);
      } catch (err) {
        throw ioFailure('utimens', this.tree.display(comps), err);
      }
    }
  }

  /** Releases what an interrupted apply holds. */
  abort(): void {
    if (this.file) {
      try {
        closeSync(this.file.fd);
      } catch {
        // already closed
      }
      this.file = undefined;
    }
  }

  /** Resolves the parent of an entry inside the tree and makes sure it exists as a directory. */
  private parentDir(parentComps: string[], e: TarEntry): string[] {
    const key = parentComps.join('/');
    const cached = this.parents.get(key);
    if (cached) return cached;
    const real = this.tree.resolve(parentComps);
    this.mkparent(real, e);
    this.parents.set(key, real);
    return real;
  }

  private mkparent(real: string[], e: TarEntry): void {
    const st = this.tree.lstat(real);
    if (st?.isDirectory()) return;
    if (st) throw invalidArgument(`parent of ${JSON.stringify(displayName(e.name))} is not a directory`);
    for (let i = 1; i <= real.length; i++) {
      const prefix = real.slice(0, i);
      const pst = this.tree.lstat(prefix);
      if (pst?.isDirectory()) continue;
      if (pst) throw invalidArgument(`parent of ${JSON.stringify(displayName(e.name))} is not a directory`);
      const host = this.tree.host(prefix);
      try {
        mkdirSync(host);
        chmodSync(host, 0o755);
      } catch (err) {
        throw ioFailure('mkdir', this.tree.display(prefix), err);
      }
      if (this.overlay) this.copyParentInfo(prefix);
    }
  }

  /** Gives a directory created in the upper the attributes it has in the first lower holding it. */
  private copyParentInfo(prefix: string[]): void {
    for (const lower of this.lowers) {
      const lp = lower.resolve(prefix);
      const st = lower.lstat(lp);
      if (!st) continue;
      if (!st.isDirectory()) return; // replaced below: keep the defaults
      const host = this.tree.host(prefix);
      const where = this.tree.display(prefix);
      try {
        lchownSync(host, Number(st.uid), Number(st.gid));
        chmodSync(host, Number(st.mode) & 0o7777);
        for (const name of this.native.llistxattr(lower.host(lp))) {
          if (name.startsWith('trusted.')) continue;
          const v = this.native.lgetxattr(lower.host(lp), name);
          if (v) this.native.lsetxattr(host, name, v);
        }
        this.native.lutimens(
          host,
          { sec: Number(st.atimeNs / 1_000_000_000n), nsec: Number(st.atimeNs % 1_000_000_000n) },
          { sec: Number(st.mtimeNs / 1_000_000_000n), nsec: Number(st.mtimeNs % 1_000_000_000n) },
        );
      } catch (err) {
        const code = errnoName(err);
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return;
        throw ioFailure('copy parent attributes', where, err);
      }
      return;
    }
  }

  private opaque(dir: string[]): void {
    const where = this.tree.display(dir);
    if (this.overlay) {
      try {
        this.native.lsetxattr(this.tree.host(dir), OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
      } catch (err) {
        throw ioFailure('mark opaque', where, err);
      }
      return;
    }
    const key = dir.join('/');
    if (this.opaqueDone.has(key)) return;
    this.opaqueDone.add(key);
    this.clearUnwritten(dir);
  }

  /** Removes everything under `dir` that this layer did not write (dir target, opaque marker). */
  private clearUnwritten(dir: string[]): void {
    let names: Buffer[];
    try {
      names = readdirSync(this.tree.host(dir), { encoding: 'buffer' });
    } catch (err) {
      throw ioFailure('readdir', this.tree.display(dir), err);
    }
    for (const n of names) {
      const child = [...dir, n.toString('latin1')];
      const key = child.join('/');
      if (this.written.has(key) || this.ancestors.has(key)) {
        if (this.tree.lstat(child)?.isDirectory()) this.clearUnwritten(child);
      } else {
        this.remove(child);
      }
    }
  }

  private whiteout(path: string[], e: TarEntry): void {
    if (!this.overlay) {
      if (this.tree.lstat(path)) this.remove(path);
      return;
    }
    if (this.tree.lstat(path)) this.remove(path);
    const host = this.tree.host(path);
    const where = this.tree.display(path);
    try {
      this.native.mknod(host, S_IFCHR, 0, 0);
      lchownSync(host, e.uid, e.gid);
    } catch (err) {
      throw ioFailure('create whiteout', where, err);
    }
  }

  /** The real components of a hardlink's target, which must exist inside the tree. */
  private linkTarget(e: TarEntry): { comps: string[]; symlink: boolean; regular: boolean } {
    const what = `hardlink ${JSON.stringify(displayName(e.name))} -> ${JSON.stringify(displayName(e.linkname))}`;
    const comps = entryComponents(e.linkname, 'hardlink target');
    if (comps.length === 0) throw invalidArgument(`${what}: target is the root`);
    const real = [...this.tree.resolve(comps.slice(0, -1)), comps[comps.length - 1]!];
    const st = this.tree.lstat(real);
    if (!st) throw invalidArgument(`${what}: target does not exist in the tree`);
    if (st.isDirectory()) throw invalidArgument(`${what}: target is a directory`);
    return { comps: real, symlink: st.isSymbolicLink(), regular: st.isFile() };
  }

  /** Owner, xattrs, mode and times of a non-file entry (or a hardlink: `file` when it is one). */
  private finishByPath(path: string[], e: TarEntry, kind: 'dir' | 'file' | 'symlink' | 'other'): void {
    const host = this.tree.host(path);
    const where = (): string => this.tree.display(path);
    try {
      lchownSync(host, e.uid, e.gid);
    } catch (err) {
      throw ioFailure('chown', where(), err);
    }
    const regOrDir = kind === 'dir' || kind === 'file';
    this.setXattrs(e, where, regOrDir, (name, value) => this.native.lsetxattr(host, name, value));
    const atime = boundTime(later(e.atime ?? e.mtime, e.mtime));
    const mtime = boundTime(e.mtime);
    try {
      if (kind !== 'symlink') chmodSync(host, e.mode & 0o7777);
      if (kind === 'dir') this.dirTimes.push({ comps: path, atime, mtime });
      else this.native.lutimens(host, atime, mtime);
    } catch (err) {
      throw ioFailure('chmod/utimens', where(), err);
    }
  }

  private setXattrs(e: TarEntry, where: () => string, regOrDir: boolean, set: (name: string, v: Buffer) => void): void {
    for (const [name, value] of e.xattrs) {
      if (name.startsWith('trusted.')) {
        this.warnOnce('ignored xattr in archive: admin attributes not supported', { path: where(), xattr: name }, name);
        continue;
      }
      try {
        set(name, value);
      } catch (err) {
        const code = errnoName(err);
        if (code === 'EPERM' && name.startsWith('user.') && !regOrDir) {
          this.warnOnce('ignored xattr in archive: user.* only on files and directories', { path: where(), xattr: name }, name);
          continue;
        }
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
          this.warnOnce('ignored xattr in archive: not supported', { path: where(), xattr: name }, name);
          continue;
        }
        const kind = code === 'EINVAL' || code === 'E2BIG' || code === 'ERANGE' ? Code.InvalidArgument : undefined;
        throw ioFailure(`setxattr ${name}`, where(), err, kind);
      }
    }
  }

  /** Logs a warning once per message and key (the first path is given as an example). */
  private warnOnce(msg: string, detail: Record<string, unknown>, key = ''): void {
    const k = `${msg}\0${key}`;
    if (this.warned.has(k)) return;
    this.warned.add(k);
    this.log?.warn(detail, msg);
  }

  private markWritten(path: string[]): void {
    if (this.overlay) return;
    this.written.add(path.join('/'));
    for (let i = path.length - 1; i > 0; i--) {
      const k = path.slice(0, i).join('/');
      if (this.ancestors.has(k)) break;
      this.ancestors.add(k);
    }
  }

  /** Removes a path (never following a symlink) and forgets resolved parents. */
  private remove(path: string[]): void {
    this.parents.clear();
    try {
      rmSync(this.tree.host(path), { recursive: true, force: true });
    } catch (err) {
      throw ioFailure('remove', this.tree.display(path), err);
    }
  }
}

/** Races an iterator against an AbortSignal so a stalled source cannot outlive a cancel. */
async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T> {
  if (!signal) {
    yield* source;
    return;
  }
  const it = source[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(canceled('applying layer', signal.reason));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  let finished = false;
  try {
    for (;;) {
      const r = await Promise.race([it.next(), aborted]);
      if (r.done) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort!);
    if (!finished) void Promise.resolve(it.return?.()).catch(() => undefined);
  }
}

function checkTarget(target: ApplyTarget): void {
  const paths = target.kind === 'overlay-upper' ? [target.upper, ...target.lowers] : [target.root];
  for (const p of paths) {
    if (typeof p !== 'string' || !isAbsolute(p)) throw invalidArgument(`apply target ${JSON.stringify(p)} must be an absolute path`);
  }
  const root = new ScopedRoot(target.kind === 'overlay-upper' ? target.upper : target.root);
  const st = root.lstat([]);
  if (!st?.isDirectory()) throw kindError(Code.FailedPrecondition, `apply target ${root.root} is not a directory`);
}

/**
 * Applies a layer to `target` and returns its diff ID and uncompressed size.
 *
 * The input is the layer blob as stored (compressed or not); `opts.mediaType` must be a layer media
 * type (else Unimplemented). The stream is decompressed by its magic bytes, parsed, written, and read
 * to its very end so the diff ID covers every uncompressed byte. Errors always carry a kind:
 * InvalidArgument for malicious or malformed layers, DataLoss for corrupt or truncated streams,
 * Canceled when `signal` fires, and the errno's kind for host failures.
 */
export async function applyLayer(input: ByteSource, target: ApplyTarget, opts: ApplyOptions): Promise<ApplyResult> {
  declaredCompression(opts.mediaType);
  checkTarget(target);
  if (opts.signal?.aborted) throw canceled('applying layer', opts.signal.reason);

  const extractor = new Extractor(target, { native: opts.native, log: opts.log });
  const parser = new TarParser(extractor);
  const hash = createHash('sha256');
  let size = 0;
  let compression: Compression = 'none';
  try {
    const d = await decompressStream(input);
    compression = d.compression;
    for await (const chunk of abortable(d.stream, opts.signal)) {
      hash.update(chunk);
      size += chunk.length;
      parser.write(chunk);
    }
    if (opts.signal?.aborted) throw canceled('applying layer', opts.signal.reason);
    parser.end();
    extractor.finish();
    if (opts.syncFs) syncTarget(target, opts.native ?? defaultNativeOps());
  } catch (err) {
    extractor.abort();
    if (err instanceof FlotillaError) throw err;
    if ((err as { name?: string }).name === 'AbortError') throw canceled('applying layer', err);
    throw ioFailure('applying layer to', target.kind === 'dir' ? target.root : target.upper, err);
  }
  return { diffId: `sha256:${hash.digest('hex')}`, size, compression, entries: parser.entries };
}

function syncTarget(target: ApplyTarget, native: NativeOps): void {
  const dir = target.kind === 'dir' ? target.root : target.upper;
  const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    native.syncfs(fd);
  } finally {
    closeSync(fd);
  }
}
