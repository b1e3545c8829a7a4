/**
 * The tar format as layers use it: the 512-byte ustar header (POSIX.1-1988, with GNU and v7
 * variants), PAX extended headers (POSIX.1-2001) and GNU long names. Shared by the reader and the
 * writer. See the OCI image-spec layer format and POSIX `pax` for the definitions.
 */
import type { ByteString } from './safe-path.js';
import type { Timespec } from './native.js';

/** Size of a tar block. */
export const BLOCK = 512;

/** Header typeflags. */
export const TypeFlag = {
  Reg: '0',
  RegA: '\0',
  Link: '1',
  Symlink: '2',
  Char: '3',
  Block: '4',
  Dir: '5',
  Fifo: '6',
  Cont: '7',
  PaxHeader: 'x',
  PaxGlobal: 'g',
  GnuLongName: 'L',
  GnuLongLink: 'K',
  GnuSparse: 'S',
} as const;

/** What an entry is. `other` is any typeflag a layer has no use for. */
export type EntryKind = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo' | 'other';

/** One member of a tar stream, with PAX and GNU long-name headers already merged in. */
export interface TarEntry {
  /** Member name as raw bytes (PAX `path` or GNU long name when present). */
  name: ByteString;
  kind: EntryKind;
  /** The raw typeflag character. */
  typeflag: string;
  /** Permission bits including setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Data bytes that follow the header (0 for header-only kinds). */
  size: number;
  mtime: Timespec;
  /** Access time when the archive carries one (PAX `atime` or GNU header). */
  atime?: Timespec;
  /** Link target as raw bytes (hardlinks and symlinks). */
  linkname: ByteString;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX `SCHILY.xattr.<name>` records, values as raw bytes. */
  xattrs: Map<string, Buffer>;
}

/** Offsets and lengths of the ustar header fields. */
export const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
  gnuAtime: [345, 12],
  gnuCtime: [357, 12],
} as const satisfies Record<string, readonly [number, number]>;

/** The kind of a (normalised) typeflag. */
export function kindOf(typeflag: string): EntryKind {
  switch (typeflag) {
    case TypeFlag.Reg:
    case TypeFlag.Cont:
      return 'file';
    case TypeFlag.Link:
      return 'hardlink';
    case TypeFlag.Symlink:
      return 'symlink';
    case TypeFlag.Char:
      return 'char';
    case TypeFlag.Block:
      return 'block';
    case TypeFlag.Dir:
      return 'dir';
    case TypeFlag.Fifo:
      return 'fifo';
    default:
      return 'other';
  }
}

/** Whether an entry of this typeflag carries no data whatever its size field says (as Go's reader). */
export function isHeaderOnly(typeflag: string): boolean {
  return '123456'.includes(typeflag) && typeflag !== '';
}

/** Checksum of a header block with the checksum field counted as spaces: [unsigned, signed]. */
export function headerChecksums(block: Uint8Array): [number, number] {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return [unsigned, signed];
}

/** Rounds a data size up to whole blocks. */
export function padded(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? size : size + BLOCK - r;
}
