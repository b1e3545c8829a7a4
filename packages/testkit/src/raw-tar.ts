/**
 * Test support: a deliberately tiny, independent tar writer for hand-crafted (and malicious) layers.
 * It writes whatever it is told — names with "..", absolute names, bad checksums, lying sizes — so
 * tests can feed the reader what no honest tool would produce.
 */

/** One member to write. */
export interface RawEntry {
  /** Name bytes (a string is UTF-8). Longer than 100 bytes needs `pax.path` or `gnuLongName`. */
  name: string | Buffer;
  /** Typeflag character, default '0'. */
  type?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  /** File content. */
  data?: string | Buffer;
  /** Size field when it must differ from the data length. */
  size?: number;
  linkname?: string | Buffer;
  devmajor?: number;
  devminor?: number;
  /** PAX records written in an 'x' header before the entry. */
  pax?: Record<string, string | Buffer>;
  /** GNU 'L' header before the entry. */
  gnuLongName?: string | Buffer;
  /** GNU 'K' header before the entry. */
  gnuLongLink?: string | Buffer;
  /** Header flavour: POSIX ustar (default), GNU, or v7 (no magic). */
  format?: 'ustar' | 'gnu' | 'v7';
  /** Write a wrong checksum. */
  badChecksum?: boolean;
}

const bytes = (v: string | Buffer): Buffer => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v);

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(e: RawEntry, size: number): Buffer {
  const b = Buffer.alloc(512);
  bytes(e.name).copy(b, 0, 0, 100);
  b.write(octal(e.mode ?? 0o644, 8), 100, 'latin1');
  b.write(octal(e.uid ?? 0, 8), 108, 'latin1');
  b.write(octal(e.gid ?? 0, 8), 116, 'latin1');
  b.write(octal(size, 12), 124, 'latin1');
  b.write(octal(e.mtime ?? 1_600_000_000, 12), 136, 'latin1');
  b.write(e.type ?? '0', 156, 'latin1');
  if (e.linkname !== undefined) bytes(e.linkname).copy(b, 157, 0, 100);
  const format = e.format ?? 'ustar';
  if (format === 'ustar') b.write('ustar\x0000', 257, 'latin1');
  if (format === 'gnu') b.write('ustar  \x00', 257, 'latin1');
  if (format !== 'v7') {
    b.write(octal(e.devmajor ?? 0, 8), 329, 'latin1');
    b.write(octal(e.devminor ?? 0, 8), 337, 'latin1');
  }
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  if (e.badChecksum) sum += 1;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

function member(e: RawEntry, data: Buffer, size = data.length): Buffer[] {
  return [header(e, size), data, pad(data.length)];
}

function paxData(records: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(records)) {
    const body = Buffer.concat([Buffer.from(` ${k}=`), bytes(v), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(Buffer.from(String(len)), body);
  }
  return Buffer.concat(parts);
}

/** Writes a tar of `entries`; `end: false` leaves out the end-of-archive blocks. */
export function rawTar(entries: RawEntry[], opts: { end?: boolean } = {}): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    if (e.gnuLongName !== undefined) {
      const d = Buffer.concat([bytes(e.gnuLongName), Buffer.alloc(1)]);
      out.push(...member({ name: '././@LongLink', type: 'L', format: 'gnu' }, d));
    }
    if (e.gnuLongLink !== undefined) {
      const d = Buffer.concat([bytes(e.gnuLongLink), Buffer.alloc(1)]);
      out.push(...member({ name: '././@LongLink', type: 'K', format: 'gnu' }, d));
    }
    if (e.pax) out.push(...member({ name: 'PaxHeaders/x', type: 'x' }, paxData(e.pax)));
    const data = e.data === undefined ? Buffer.alloc(0) : bytes(e.data);
    out.push(...member(e, data, e.size ?? data.length));
  }
  if (opts.end !== false) out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

/** A byte source yielding `b` in chunks of `size` (to exercise boundaries). */
export async function* chunked(b: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, Math.min(b.length, i + size));
}
