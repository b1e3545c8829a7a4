/**
 * Encoding tar headers for the layers we produce: ustar headers, with a PAX extended header in
 * front when a value does not fit ustar (names or link targets over 100 bytes or not ASCII, ids over
 * 0o7777777, sizes of 8 GiB and more, times before 1970 or after 2242) or when the entry has xattrs
 * (`SCHILY.xattr.<name>`, the form GNU tar, Go and containerd use). Output is deterministic: no user
 * or group names, records sorted by key, PAX header blocks named `PaxHeaders.0/<base>` with zero
 * owner and time.
 */
import { BLOCK, TypeFlag, headerChecksums, padded } from './tar-format.js';
import type { ByteString } from './safe-path.js';

/** What the writer needs to know about an entry. */
export interface HeaderFields {
  /** Raw name bytes; directories should end in "/". */
  name: ByteString;
  typeflag: string;
  /** 07777 bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Data bytes that follow (regular files only). */
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  linkname?: ByteString;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (written as `SCHILY.xattr.<name>` PAX records). */
  xattrs?: Map<string, Buffer>;
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE: Uint8Array = new Uint8Array(2 * BLOCK);

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0x7e) return false;
  }
  return true;
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

function putString(block: Buffer, off: number, len: number, s: ByteString): void {
  block.write(s.length > len ? s.slice(0, len) : s, off, 'latin1');
}

function putOctal(block: Buffer, off: number, len: number, v: number): void {
  // width-1 digits and a NUL, as ustar requires
  block.write(v.toString(8).padStart(len - 1, '0'), off, 'latin1');
  block[off + len - 1] = 0;
}

/** One PAX record, `"<len> <key>=<value>\n"` where len counts the whole record. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

function ustarBlock(h: HeaderFields, name: ByteString, linkname: ByteString, fits: (n: number, max: number) => number): Buffer {
  const block = Buffer.alloc(BLOCK);
  putString(block, 0, 100, name);
  putOctal(block, 100, 8, h.mode & 0o7777);
  putOctal(block, 108, 8, fits(h.uid, MAX_OCTAL_7));
  putOctal(block, 116, 8, fits(h.gid, MAX_OCTAL_7));
  putOctal(block, 124, 12, fits(h.size, MAX_OCTAL_11));
  putOctal(block, 136, 12, fits(h.mtime, MAX_OCTAL_11));
  block.write(h.typeflag, 156, 'latin1');
  putString(block, 157, 100, linkname);
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  putOctal(block, 329, 8, h.devmajor ?? 0);
  putOctal(block, 337, 8, h.devminor ?? 0);
  const [sum] = headerChecksums(block);
  block.write(sum.toString(8).padStart(6, '0'), 148, 'latin1');
  block[154] = 0;
  block[155] = 0x20;
  return block;
}

/**
 * Encodes the header(s) of one entry: a ustar block, preceded by a PAX header and its records when
 * needed. The entry's data (regular files) must follow, padded with {@link dataPadding}.
 */
export function encodeHeader(h: HeaderFields): Buffer {
  const records = new Map<string, Buffer>();
  const linkname = h.linkname ?? '';
  let binary = false;
  const nameField = (key: 'path' | 'linkpath', v: ByteString): ByteString => {
    if (v.length <= 100 && isAscii(v)) return v;
    const bytes = Buffer.from(v, 'latin1');
    if (!isUtf8(bytes)) binary = true;
    records.set(key, bytes);
    // a readable stand-in for readers without PAX
    return v.replace(/[^\x20-\x7e]/g, '_').slice(0, 100);
  };
  const name = nameField('path', h.name);
  const link = linkname ? nameField('linkpath', linkname) : '';
  if (binary) records.set('hdrcharset', Buffer.from('BINARY'));
  const numeric: Array<[string, number]> = [
    ['uid', h.uid],
    ['gid', h.gid],
    ['size', h.size],
    ['mtime', h.mtime],
  ];
  const limits: Record<string, number> = { uid: MAX_OCTAL_7, gid: MAX_OCTAL_7, size: MAX_OCTAL_11, mtime: MAX_OCTAL_11 };
  for (const [key, v] of numeric) {
    if (v < 0 || v > limits[key]!) records.set(key, Buffer.from(String(v), 'latin1'));
  }
  for (const [k, v] of h.xattrs ?? []) records.set(`SCHILY.xattr.${k}`, v);

  const main = ustarBlock(h, name, link, (n, max) => (n < 0 || n > max ? 0 : n));
  if (records.size === 0) return main;

  const keys = [...records.keys()].sort();
  const data = Buffer.concat(keys.map((k) => paxRecord(k, records.get(k)!)));
  const base = h.name.replace(/\/+$/, '').split('/').pop() ?? '';
  const paxName = `PaxHeaders.0/${base.replace(/[^\x20-\x7e]/g, '_')}`.slice(0, 100);
  const paxHeader = ustarBlock(
    { name: paxName, typeflag: TypeFlag.PaxHeader, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 0 },
    paxName,
    '',
    (n) => n,
  );
  return Buffer.concat([paxHeader, data, Buffer.alloc(padded(data.length) - data.length), main]);
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function dataPadding(size: number): Uint8Array {
  return new Uint8Array(padded(size) - size);
}
