/**
 * A streaming (push) tar parser: feed it byte chunks with {@link TarParser.write}, it calls its
 * {@link TarSink} synchronously for every entry and every piece of entry data, without buffering file
 * contents (only headers and PAX / long-name records, bounded by `maxMetaSize`).
 *
 * Reading rules follow Go's `archive/tar` reader, which containerd uses:
 * - checksums are verified (unsigned or signed sum); a bad header is InvalidArgument;
 * - ustar prefix fields are joined to the name; GNU headers provide atime; v7 headers are accepted;
 * - PAX records `path`, `linkpath`, `size`, `uid`, `gid`, `uname`, `gname`, `mtime`, `atime` (with
 *   fractions) and `SCHILY.xattr.*` apply to the next entry; global (`g`) headers are ignored;
 *   GNU `L`/`K` long names apply to the next entry (PAX wins when both are present);
 * - old-style `\0` typeflags become regular files, or directories when the name ends in "/";
 * - links, symlinks, devices, directories and FIFOs carry no data whatever their size says;
 * - the archive ends at two zero blocks, or at a clean end of stream on a header boundary; a stream
 *   that ends inside a header, inside entry data or after a lone PAX header is DataLoss;
 * - bytes after the end-of-archive marker are ignored (the caller still hashes them);
 * - sparse files (GNU `S`, PAX `GNU.sparse.*`) are Unimplemented.
 */
import { kindError, Code, invalidArgument, unimplemented } from '@flotilla/api';
import { BLOCK, F, TypeFlag, headerChecksums, isHeaderOnly, kindOf, padded, type TarEntry } from './tar-format.js';
import type { Timespec } from './native.js';
import { bytesToString } from './safe-path.js';

/** Receives what the parser finds, synchronously. Throwing stops the parse. */
export interface TarSink {
  /** A new entry; for regular files `size` bytes of data follow through {@link TarSink.data}. */
  entry(e: TarEntry): void;
  /** A piece of the current entry's data (a view into the input chunk: copy it to keep it). */
  data(piece: Uint8Array): void;
  /** The current entry is complete. */
  entryEnd(): void;
}

/** Limits for the parser. */
export interface TarParserOptions {
  /** Largest PAX or GNU long-name record accepted (Go uses 1 MiB). */
  maxMetaSize?: number;
}

const DEFAULT_MAX_META = 1 << 20;

type State = 'header' | 'data' | 'meta' | 'skip' | 'end';

/** Numeric header field: octal (spaces/NULs trimmed) or GNU base-256. */
export function parseNumeric(block: Uint8Array, off: number, len: number, field: string): number {
  const first = block[off]!;
  if (first & 0x80) {
    // base-256, big-endian two's complement; 0x80 marks positive, 0xff negative
    const negative = first === 0xff;
    let v = 0;
    for (let i = 0; i < len; i++) {
      let b = block[off + i]!;
      if (i === 0 && !negative) b &= 0x7f;
      if (negative) b = ~b & 0xff;
      v = v * 256 + b;
    }
    if (!Number.isSafeInteger(v)) throw invalidArgument(`invalid tar header: ${field} out of range`);
    return negative ? -(v + 1) : v;
  }
  let start = off;
  let end = off + len;
  while (start < end && (block[start] === 0x20 || block[start] === 0)) start++;
  while (end > start && (block[end - 1] === 0x20 || block[end - 1] === 0)) end--;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = block[i]! - 0x30;
    if (c < 0 || c > 7) throw invalidArgument(`invalid tar header: bad octal ${field}`);
    v = v * 8 + c;
  }
  if (!Number.isSafeInteger(v)) throw invalidArgument(`invalid tar header: ${field} out of range`);
  return v;
}

/** A NUL-terminated string field as a byte string. */
function fieldString(block: Uint8Array, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && block[end] !== 0) end++;
  return bytesToString(block.subarray(off, end));
}

/** Parses a PAX decimal time ("1700000000.123456789", may be negative). */
export function parsePaxTime(s: string): Timespec {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) throw invalidArgument(`invalid PAX time ${JSON.stringify(s)}`);
  const sec = Number(m[2]);
  const frac = (m[3] ?? '').slice(0, 9).padEnd(9, '0');
  const nsec = Number(frac);
  if (!Number.isSafeInteger(sec)) throw invalidArgument(`PAX time out of range ${JSON.stringify(s)}`);
  if (m[1] === '-') {
    // -1.25 is 1.25 seconds before the epoch: sec -2, nsec 0.75e9
    return nsec === 0 ? { sec: -sec, nsec: 0 } : { sec: -sec - 1, nsec: 1e9 - nsec };
  }
  return { sec, nsec };
}

function paxInt(key: string, v: string): number {
  if (!/^\d+$/.test(v)) throw invalidArgument(`invalid PAX ${key} ${JSON.stringify(v)}`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw invalidArgument(`PAX ${key} out of range`);
  return n;
}

/** Parses the records of a PAX header block: `"%d %s=%s\n"` repeated. Values stay raw bytes. */
export function parsePaxRecords(data: Uint8Array): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  while (pos < buf.length) {
    // a header padded with NULs ends early
    if (buf[pos] === 0) break;
    const sp = buf.indexOf(0x20, pos);
    if (sp < 0 || sp - pos > 20) throw invalidArgument('invalid PAX record: no length');
    const lenText = buf.toString('latin1', pos, sp);
    if (!/^\d+$/.test(lenText)) throw invalidArgument('invalid PAX record length');
    const len = Number(lenText);
    const end = pos + len;
    if (len <= sp - pos + 1 || end > buf.length || buf[end - 1] !== 0x0a) {
      throw invalidArgument('invalid PAX record: bad length or terminator');
    }
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= end - 1 || eq === sp + 1) throw invalidArgument('invalid PAX record: no key');
    const key = buf.toString('utf8', sp + 1, eq);
    out.set(key, Buffer.from(buf.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return out;
}

const XATTR_PREFIX = 'SCHILY.xattr.';

/** The streaming parser. */
export class TarParser {
  private state: State = 'header';
  private readonly hdr = new Uint8Array(BLOCK);
  private hdrFill = 0;
  private remaining = 0; // data bytes left in the current entry (or meta record)
  private padding = 0; // padding bytes after the data
  private zeroBlocks = 0;
  private meta: Uint8Array[] = [];
  private metaType = '';
  private pax = new Map<string, Buffer>();
  private gnuLongName: string | undefined;
  private gnuLongLink: string | undefined;
  private pendingMeta = false;
  private readonly maxMeta: number;
  /** Number of entries reported to the sink. */
  entries = 0;

  constructor(
    private readonly sink: TarSink,
    opts: TarParserOptions = {},
  ) {
    this.maxMeta = opts.maxMetaSize ?? DEFAULT_MAX_META;
  }

  /** Whether the end-of-archive marker has been read. */
  get ended(): boolean {
    return this.state === 'end';
  }

  /** Feeds the next chunk of the stream. */
  write(chunk: Uint8Array): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      switch (this.state) {
        case 'end':
          return;
        case 'header': {
          if (this.hdrFill === 0 && n - pos >= BLOCK) {
            this.onHeader(chunk.subarray(pos, pos + BLOCK));
            pos += BLOCK;
          } else {
            const take = Math.min(BLOCK - this.hdrFill, n - pos);
            this.hdr.set(chunk.subarray(pos, pos + take), this.hdrFill);
            this.hdrFill += take;
            pos += take;
            if (this.hdrFill === BLOCK) {
              this.hdrFill = 0;
              this.onHeader(this.hdr);
            }
          }
          break;
        }
        case 'data': {
          if (this.remaining > 0) {
            const take = Math.min(this.remaining, n - pos);
            this.remaining -= take;
            this.sink.data(chunk.subarray(pos, pos + take));
            pos += take;
          }
          if (this.remaining === 0) {
            const skip = Math.min(this.padding, n - pos);
            this.padding -= skip;
            pos += skip;
            if (this.padding === 0) {
              this.state = 'header';
              this.sink.entryEnd();
            }
          }
          break;
        }
        case 'meta': {
          const take = Math.min(this.remaining, n - pos);
          if (take > 0) this.meta.push(chunk.slice(pos, pos + take));
          this.remaining -= take;
          pos += take;
          if (this.remaining === 0) {
            const skip = Math.min(this.padding, n - pos);
            this.padding -= skip;
            pos += skip;
            if (this.padding === 0) this.onMetaDone();
          }
          break;
        }
        case 'skip': {
          const take = Math.min(this.remaining, n - pos);
          this.remaining -= take;
          pos += take;
          if (this.remaining === 0) {
            this.state = 'header';
            this.sink.entryEnd();
          }
          break;
        }
      }
    }
  }

  /** The stream has ended: throws DataLoss when it ended in the middle of the archive. */
  end(): void {
    if (this.state === 'end') return;
    if (this.state === 'header' && this.hdrFill === 0 && !this.pendingMeta) {
      // A clean end on a header boundary (with or without one zero block): Go accepts it.
      this.state = 'end';
      return;
    }
    throw kindError(Code.DataLoss, 'layer tar stream ends unexpectedly (truncated)');
  }

  private onHeader(block: Uint8Array): void {
    if (isZero(block)) {
      if (this.pendingMeta) throw invalidArgument('invalid tar: extended header not followed by an entry');
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) this.state = 'end';
      return;
    }
    if (this.zeroBlocks > 0) throw invalidArgument('invalid tar: a lone zero block inside the archive');

    const stored = parseNumeric(block, F.chksum[0], F.chksum[1], 'checksum');
    const [u, s] = headerChecksums(block);
    if (stored !== u && stored !== s) throw invalidArgument('invalid tar header: checksum mismatch');

    let typeflag = String.fromCharCode(block[F.typeflag[0]]!);
    const size = parseNumeric(block, F.size[0], F.size[1], 'size');
    if (size < 0) throw invalidArgument('invalid tar header: negative size');

    if (
      typeflag === TypeFlag.PaxHeader ||
      typeflag === TypeFlag.PaxGlobal ||
      typeflag === TypeFlag.GnuLongName ||
      typeflag === TypeFlag.GnuLongLink
    ) {
      if (size > this.maxMeta) throw invalidArgument(`invalid tar: ${typeflag} header of ${size} bytes is too large`);
      this.metaType = typeflag;
      this.meta = [];
      this.remaining = size;
      this.padding = padded(size) - size;
      this.pendingMeta = true;
      if (size === 0 && this.padding === 0) this.onMetaDone();
      else this.state = 'meta';
      return;
    }
    if (typeflag === TypeFlag.GnuSparse) throw unimplemented('sparse files in layers (GNU sparse entry)');

    const magic = fieldString(block, F.magic[0], F.magic[1]);
    const version = bytesToString(block.subarray(F.version[0], F.version[0] + F.version[1]));
    const gnu = magic === 'ustar ' && version === ' \0';
    const ustar = magic === 'ustar' && !gnu;

    let name = fieldString(block, F.name[0], F.name[1]);
    if (ustar) {
      // star archives keep atime/ctime in the tail of the prefix area
      const star = bytesToString(block.subarray(508, 512)) === 'tar\0';
      const prefix = fieldString(block, F.prefix[0], star ? 131 : F.prefix[1]);
      if (prefix) name = `${prefix}/${name}`;
    }
    let linkname = fieldString(block, F.linkname[0], F.linkname[1]);
    const entry: TarEntry = {
      name,
      kind: 'other',
      typeflag,
      mode: parseNumeric(block, F.mode[0], F.mode[1], 'mode') & 0o7777,
      uid: parseNumeric(block, F.uid[0], F.uid[1], 'uid'),
      gid: parseNumeric(block, F.gid[0], F.gid[1], 'gid'),
      uname: ustar || gnu ? Buffer.from(fieldString(block, F.uname[0], F.uname[1]), 'latin1').toString('utf8') : '',
      gname: ustar || gnu ? Buffer.from(fieldString(block, F.gname[0], F.gname[1]), 'latin1').toString('utf8') : '',
      size,
      mtime: { sec: parseNumeric(block, F.mtime[0], F.mtime[1], 'mtime'), nsec: 0 },
      linkname,
      devmajor: 0,
      devminor: 0,
      xattrs: new Map(),
    };
    if (ustar || gnu) {
      if (typeflag === TypeFlag.Char || typeflag === TypeFlag.Block) {
        entry.devmajor = parseNumeric(block, F.devmajor[0], F.devmajor[1], 'devmajor');
        entry.devminor = parseNumeric(block, F.devminor[0], F.devminor[1], 'devminor');
      }
    }
    if (gnu) {
      const at = parseNumeric(block, F.gnuAtime[0], F.gnuAtime[1], 'atime');
      if (at !== 0) entry.atime = { sec: at, nsec: 0 };
    }

    // GNU long names, then PAX records (PAX wins)
    if (this.gnuLongName !== undefined) entry.name = this.gnuLongName;
    if (this.gnuLongLink !== undefined) entry.linkname = linkname = this.gnuLongLink;
    this.applyPax(entry);
    this.pax = new Map();
    this.gnuLongName = undefined;
    this.gnuLongLink = undefined;
    this.pendingMeta = false;

    if (typeflag === TypeFlag.RegA) typeflag = entry.name.endsWith('/') ? TypeFlag.Dir : TypeFlag.Reg;
    entry.typeflag = typeflag;
    entry.kind = kindOf(typeflag);

    const dataSize = isHeaderOnly(typeflag) ? 0 : entry.size;
    if (isHeaderOnly(typeflag)) entry.size = 0;
    this.entries++;
    this.sink.entry(entry);
    if (entry.kind === 'file' || dataSize === 0) {
      this.remaining = dataSize;
      this.padding = padded(dataSize) - dataSize;
      this.state = 'data';
      if (dataSize === 0) {
        this.state = 'header';
        this.sink.entryEnd();
      }
    } else {
      // an entry kind we do not extract: skip its data
      this.remaining = padded(dataSize);
      this.state = 'skip';
    }
  }

  private onMetaDone(): void {
    this.state = 'header';
    const total = this.meta.reduce((a, b) => a + b.length, 0);
    const data = Buffer.concat(this.meta, total);
    this.meta = [];
    switch (this.metaType) {
      case TypeFlag.PaxHeader:
        for (const [k, v] of parsePaxRecords(data)) this.pax.set(k, v);
        break;
      case TypeFlag.PaxGlobal:
        parsePaxRecords(data); // validated, then ignored (as containerd does)
        this.pendingMeta = this.pax.size > 0 || this.gnuLongName !== undefined || this.gnuLongLink !== undefined;
        return;
      case TypeFlag.GnuLongName:
        this.gnuLongName = cutNul(data);
        break;
      case TypeFlag.GnuLongLink:
        this.gnuLongLink = cutNul(data);
        break;
    }
  }

  private applyPax(entry: TarEntry): void {
    for (const [key, value] of this.pax) {
      const text = (): string => value.toString('utf8');
      switch (key) {
        case 'path':
          if (value.includes(0)) throw invalidArgument('invalid PAX path: contains NUL');
          if (value.length) entry.name = bytesToString(value);
          break;
        case 'linkpath':
          if (value.includes(0)) throw invalidArgument('invalid PAX linkpath: contains NUL');
          if (value.length) entry.linkname = bytesToString(value);
          break;
        case 'size':
          entry.size = paxInt(key, text());
          break;
        case 'uid':
          entry.uid = paxInt(key, text());
          break;
        case 'gid':
          entry.gid = paxInt(key, text());
          break;
        case 'uname':
          entry.uname = text();
          break;
        case 'gname':
          entry.gname = text();
          break;
        case 'mtime':
          entry.mtime = parsePaxTime(text());
          break;
        case 'atime':
          entry.atime = parsePaxTime(text());
          break;
        default:
          if (key.startsWith(XATTR_PREFIX)) {
            const name = key.slice(XATTR_PREFIX.length);
            if (name) entry.xattrs.set(name, value);
          } else if (key.startsWith('GNU.sparse.')) {
            throw unimplemented('sparse files in layers (PAX GNU.sparse)');
          }
      }
    }
  }
}

function isZero(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function cutNul(data: Buffer): string {
  const i = data.indexOf(0);
  return data.toString('latin1', 0, i < 0 ? data.length : i);
}
