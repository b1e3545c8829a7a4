/**
 * A deterministic tar writer (POSIX ustar, with PAX extended headers where ustar cannot say it:
 * long or non-ASCII names and link targets, big ids and sizes, xattrs as `SCHILY.xattr.*`).
 *
 * Every header carries the same mtime ({@link TAR_MTIME}), empty user/group names and the uid/gid
 * of the entry (0 unless given), so the bytes depend only on the entries passed in. The writer
 * does not reorder: use {@link sortEntries} to get the canonical order (bytewise by path, a
 * hardlink after its target).
 */

/** The mtime of every entry (and every PAX header): 2000-01-01T00:00:00Z. */
export const TAR_MTIME = 946_684_800;

/** What a tar entry is. `hardlink` points at an earlier entry of the same archive. */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'char' | 'block';

/** The bytes of a regular file: in memory, or produced on demand (exactly `size` bytes). */
export type TarData = Buffer | { size: number; read: () => Iterable<Buffer> | AsyncIterable<Buffer> };

/** One entry of a layer or archive. Paths are relative (`bin/sh`, no leading `/` or `./`). */
export interface TarEntry {
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky; defaults 0644 (file), 0755 (dir), 0777 (symlink). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Target of a symlink (any string) or hardlink (path of an earlier entry). */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (`user.foo` → value), written as PAX `SCHILY.xattr.<name>`. */
  xattrs?: Record<string, string | Buffer>;
  /** Contents of a `file`; absent means empty. */
  data?: TarData;
}

const BLOCK = 512;
const ZERO_BLOCKS = Buffer.alloc(BLOCK * 2);
const TYPEFLAG: Record<TarEntryType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

/** Size in bytes of an entry's data. */
export function entrySize(e: TarEntry): number {
  if (e.type !== 'file' || !e.data) return 0;
  return Buffer.isBuffer(e.data) ? e.data.length : e.data.size;
}

/** Rejects paths a layer must never contain (absolute, `..`, empty or `.` components, NUL). */
export function checkEntryPath(path: string): void {
  if (path === '' || path.startsWith('/') || path.endsWith('/') || path.includes('\0')) throw new Error(`bad tar path ${JSON.stringify(path)}`);
  for (const part of path.split('/')) {
    if (part === '' || part === '.' || part === '..') throw new Error(`bad tar path ${JSON.stringify(path)}`);
  }
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The canonical order: bytewise by path (so a directory precedes its children), except that a
 * hardlink whose target sorts later is emitted right after its target. Throws on duplicate paths
 * and on hardlinks to paths that are not in the list.
 */
export function sortEntries(entries: readonly TarEntry[]): TarEntry[] {
  const sorted = [...entries].sort((a, b) => compareBytes(a.path, b.path));
  const paths = new Set<string>();
  for (const e of sorted) {
    checkEntryPath(e.path);
    if (paths.has(e.path)) throw new Error(`duplicate tar path ${e.path}`);
    paths.add(e.path);
  }
  const out: TarEntry[] = [];
  const emitted = new Set<string>();
  const waiting = new Map<string, TarEntry[]>();
  const emit = (e: TarEntry): void => {
    out.push(e);
    emitted.add(e.path);
    const w = waiting.get(e.path);
    if (w) {
      waiting.delete(e.path);
      for (const x of w) emit(x);
    }
  };
  for (const e of sorted) {
    if (e.type === 'hardlink') {
      const target = e.linkname ?? '';
      if (!paths.has(target)) throw new Error(`hardlink ${e.path} points at ${target}, which is not in the archive`);
      if (!emitted.has(target)) {
        waiting.set(target, [...(waiting.get(target) ?? []), e]);
        continue;
      }
    }
    emit(e);
  }
  if (waiting.size > 0) throw new Error(`hardlink cycle among ${[...waiting.keys()].join(', ')}`);
  return out;
}

/** Adds `dir` entries (0755, root) for every missing ancestor directory of the given entries. */
export function withParentDirs(entries: readonly TarEntry[]): TarEntry[] {
  const have = new Set(entries.map((e) => e.path));
  const out = [...entries];
  for (const e of entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!have.has(dir)) {
        have.add(dir);
        out.push({ path: dir, type: 'dir' });
      }
    }
  }
  return out;
}

function isAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function writeString(h: Buffer, off: number, len: number, s: string): void {
  Buffer.from(s).copy(h, off, 0, len);
}

function writeOctal(h: Buffer, off: number, len: number, n: number): void {
  h.write(n.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

/** Splits an ASCII path over ustar's prefix (155) and name (100) fields, or returns undefined. */
function splitUstarName(name: string): [string, string] | undefined {
  if (name.length <= 100) return ['', name];
  if (name.length > 256) return undefined;
  // The prefix ends at a slash; the slash itself is not stored.
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return [prefix, rest];
    if (rest.length > 100) break;
  }
  return undefined;
}

function ustarHeader(f: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const h = Buffer.alloc(BLOCK);
  writeString(h, 0, 100, f.name);
  writeOctal(h, 100, 8, f.mode);
  writeOctal(h, 108, 8, f.uid);
  writeOctal(h, 116, 8, f.gid);
  writeOctal(h, 124, 12, f.size);
  writeOctal(h, 136, 12, TAR_MTIME);
  h.fill(0x20, 148, 156);
  h.write(f.typeflag, 156, 1, 'latin1');
  writeString(h, 157, 100, f.linkname);
  h.write('ustar\0', 257, 6, 'latin1');
  h.write('00', 263, 2, 'latin1');
  writeOctal(h, 329, 8, f.devmajor);
  writeOctal(h, 337, 8, f.devminor);
  writeString(h, 345, 155, f.prefix);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The header block(s) of an entry: an optional PAX `x` header with its records, then the ustar header. */
export function encodeHeader(e: TarEntry): Buffer {
  checkEntryPath(e.path);
  const size = entrySize(e);
  const mode = e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644);
  if (mode < 0 || mode > 0o7777) throw new Error(`bad mode ${mode.toString(8)} for ${e.path}`);
  const uid = e.uid ?? 0;
  const gid = e.gid ?? 0;
  const name = e.type === 'dir' ? e.path + '/' : e.path;
  const linkname = e.type === 'symlink' || e.type === 'hardlink' ? e.linkname ?? '' : '';
  if ((e.type === 'symlink' || e.type === 'hardlink') && linkname === '') throw new Error(`${e.type} ${e.path} has no linkname`);

  const pax: Buffer[] = [];
  let split = isAscii(name) ? splitUstarName(name) : undefined;
  if (!split) {
    pax.push(paxRecord('path', Buffer.from(name)));
    split = ['', Buffer.from(name).subarray(0, 100).toString('latin1').replace(/[^\x20-\x7e]/g, '_')];
  }
  let ustarLink = linkname;
  if (linkname.length > 100 || !isAscii(linkname)) {
    pax.push(paxRecord('linkpath', Buffer.from(linkname)));
    ustarLink = '';
  }
  let ustarSize = size;
  if (size > MAX_OCTAL_11) {
    pax.push(paxRecord('size', Buffer.from(String(size))));
    ustarSize = 0;
  }
  let ustarUid = uid;
  if (uid > MAX_OCTAL_7) {
    pax.push(paxRecord('uid', Buffer.from(String(uid))));
    ustarUid = 0;
  }
  let ustarGid = gid;
  if (gid > MAX_OCTAL_7) {
    pax.push(paxRecord('gid', Buffer.from(String(gid))));
    ustarGid = 0;
  }
  for (const key of Object.keys(e.xattrs ?? {}).sort(compareBytes)) {
    const v = e.xattrs![key]!;
    pax.push(paxRecord(`SCHILY.xattr.${key}`, Buffer.isBuffer(v) ? v : Buffer.from(v)));
  }
  const header = ustarHeader({
    name: split[1],
    prefix: split[0],
    mode,
    uid: ustarUid,
    gid: ustarGid,
    size: ustarSize,
    typeflag: TYPEFLAG[e.type],
    linkname: ustarLink,
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  });
  if (pax.length === 0) return header;
  const records = Buffer.concat(pax);
  const base = e.path.split('/').pop()!;
  const paxName = 'PaxHeaders/' + (isAscii(base) ? base : 'entry').slice(0, 88);
  const paxHeader = ustarHeader({ name: paxName, prefix: '', mode: 0o644, uid: 0, gid: 0, size: records.length, typeflag: 'x', linkname: '', devmajor: 0, devminor: 0 });
  return Buffer.concat([paxHeader, records, Buffer.alloc(padding(records.length)), header]);
}

/** How many bytes the archive of these entries takes (headers, data, padding, end blocks). */
export function tarSize(entries: Iterable<TarEntry>): number {
  let n = 0;
  for (const e of entries) {
    const size = entrySize(e);
    n += encodeHeader(e).length + size + padding(size);
  }
  return n + ZERO_BLOCKS.length;
}

/**
 * Streams the archive of `entries` in the order given, as chunks of about `chunkBytes` (small
 * pieces are coalesced). Data producers are checked to yield exactly their declared size.
 */
export async function* tarStream(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>, chunkBytes = 1 << 20): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const push = (b: Buffer): Buffer | undefined => {
    if (b.length === 0) return undefined;
    pending.push(b);
    pendingBytes += b.length;
    if (pendingBytes < chunkBytes) return undefined;
    const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  for await (const e of entries) {
    let out = push(encodeHeader(e));
    if (out) yield out;
    const size = entrySize(e);
    if (e.type === 'file' && e.data) {
      if (Buffer.isBuffer(e.data)) {
        out = push(e.data);
        if (out) yield out;
      } else {
        let produced = 0;
        for await (const chunk of e.data.read()) {
          produced += chunk.length;
          if (produced > size) throw new Error(`${e.path}: data is longer than its declared size ${size}`);
          out = push(chunk);
          if (out) yield out;
        }
        if (produced !== size) throw new Error(`${e.path}: data is ${produced} bytes, declared ${size}`);
      }
    }
    out = push(Buffer.alloc(padding(size)));
    if (out) yield out;
  }
  pending.push(ZERO_BLOCKS);
  yield Buffer.concat(pending);
}

/** The whole archive of `entries` in memory (for small archives). */
export async function tarBuffer(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of tarStream(entries)) chunks.push(c);
  return Buffer.concat(chunks);
}
