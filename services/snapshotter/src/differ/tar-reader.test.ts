import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Code, codeOf } from '@flotilla/api';
import { TarParser, parseNumeric, parsePaxRecords, parsePaxTime, type TarSink } from './tar-reader.js';
import type { TarEntry } from './tar-format.js';
import { rawTar, type RawEntry } from '@flotilla/testkit';
import { encodeHeader, END_OF_ARCHIVE, dataPadding } from './tar-writer.js';

interface Seen {
  entry: TarEntry;
  data: Buffer;
}

function parse(bytes: Buffer, chunk = bytes.length || 1): Seen[] {
  const seen: Seen[] = [];
  let cur: Seen | undefined;
  const sink: TarSink = {
    entry: (e) => {
      cur = { entry: e, data: Buffer.alloc(0) };
      seen.push(cur);
    },
    data: (p) => {
      cur!.data = Buffer.concat([cur!.data, p]);
    },
    entryEnd: () => {
      cur = undefined;
    },
  };
  const p = new TarParser(sink);
  for (let i = 0; i < bytes.length; i += chunk) p.write(bytes.subarray(i, i + chunk));
  p.end();
  return seen;
}

function throwsCode(fn: () => unknown, code: Code): void {
  assert.throws(fn, (e) => {
    assert.equal(codeOf(e), code, String(e));
    return true;
  });
}

const sample: RawEntry[] = [
  { name: 'dir/', type: '5', mode: 0o755 },
  { name: 'dir/a', data: 'a'.repeat(1000), mode: 0o4755, uid: 5, gid: 6, mtime: 1234 },
  { name: 'dir/exact', data: Buffer.alloc(1024, 1) },
  { name: 'empty' },
  { name: 'sym', type: '2', linkname: 'dir/a' },
  { name: 'hard', type: '1', linkname: 'dir/a' },
  { name: 'dev', type: '3', devmajor: 10, devminor: 200 },
  { name: 'p', data: 'pax', pax: { path: 'long/'.repeat(40) + 'name', 'SCHILY.xattr.user.a': 'b' } },
];

describe('TarParser', () => {
  it('gives the same entries and data whatever the chunking', () => {
    const tar = rawTar(sample);
    const whole = parse(tar);
    assert.equal(whole.length, sample.length);
    for (const size of [1, 7, 100, 511, 512, 513, 4096]) {
      const got = parse(tar, size);
      assert.deepEqual(
        got.map((s) => [s.entry, s.data.toString('hex')]),
        whole.map((s) => [s.entry, s.data.toString('hex')]),
        `chunk ${size}`,
      );
    }
    const a = whole[1]!;
    assert.equal(a.entry.kind, 'file');
    assert.equal(a.entry.mode, 0o4755);
    assert.equal(a.entry.uid, 5);
    assert.deepEqual(a.entry.mtime, { sec: 1234, nsec: 0 });
    assert.equal(a.data.toString(), 'a'.repeat(1000));
    assert.equal(whole[4]!.entry.linkname, 'dir/a');
    assert.equal(whole[5]!.entry.kind, 'hardlink');
    assert.equal(whole[6]!.entry.devmajor, 10);
    assert.equal(whole[6]!.entry.devminor, 200);
    assert.equal(whole[7]!.entry.name, 'long/'.repeat(40) + 'name');
    assert.deepEqual(whole[7]!.entry.xattrs.get('user.a'), Buffer.from('b'));
  });

  it('joins the ustar prefix field and ignores the size of header-only entries', () => {
    const h = encodeHeader({ name: 'x', typeflag: '0', mode: 0o644, uid: 0, gid: 0, size: 2, mtime: 0 });
    // put "pre/fix" into the prefix field and fix the checksum
    h.write('pre/fix', 345, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const sym = rawTar([{ name: 's', type: '2', linkname: 't', size: 3000 }], { end: false });
    const tar = Buffer.concat([h, Buffer.from('hi'), dataPadding(2), sym, END_OF_ARCHIVE]);
    const got = parse(tar, 100);
    assert.equal(got[0]!.entry.name, 'pre/fix/x');
    assert.equal(got[0]!.data.toString(), 'hi');
    assert.equal(got[1]!.entry.kind, 'symlink');
    assert.equal(got[1]!.entry.size, 0);
  });

  it('reads base-256 numbers and signed checksums', () => {
    const field = Buffer.alloc(12);
    field[0] = 0x80;
    field.writeUIntBE(2 ** 40 + 5, 6, 6);
    assert.equal(parseNumeric(field, 0, 12, 'size'), 2 ** 40 + 5);
    const neg = Buffer.alloc(8, 0xff);
    assert.equal(parseNumeric(neg, 0, 8, 'mtime'), -1);
    assert.equal(parseNumeric(Buffer.from(' 0000644\0'), 0, 9, 'mode'), 0o644);
    throwsCode(() => parseNumeric(Buffer.from('00009\0'), 0, 6, 'mode'), Code.InvalidArgument);

    // a header with bytes > 127 whose checksum was computed with signed chars
    const tar = rawTar([{ name: 'n\xe9', data: 'x' }]);
    const h = tar.subarray(0, 512);
    h.fill(0x20, 148, 156);
    let signed = 0;
    for (const b of h) signed += b > 127 ? b - 256 : b;
    h.write(signed.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    assert.equal(parse(tar).length, 1);
  });

  it('applies PAX size, ignores global headers, and stops at the end marker', () => {
    const data = Buffer.alloc(700, 9);
    const body = rawTar([{ name: 'big', data, size: 0, pax: { size: '700' } }], { end: false });
    const global = rawTar([{ name: 'g', type: 'g', data: '19 comment=ignored\n' }], { end: false });
    const tar = Buffer.concat([global, body, END_OF_ARCHIVE, Buffer.from('not a tar header at all'.repeat(30))]);
    const got = parse(tar, 333);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.entry.size, 700);
    assert.ok(got[0]!.data.equals(data));
  });

  it('rejects malformed archives with a code', () => {
    throwsCode(() => parse(rawTar([{ name: 'a', badChecksum: true }])), Code.InvalidArgument);
    throwsCode(() => parse(Buffer.concat([Buffer.alloc(512), rawTar([{ name: 'a' }])])), Code.InvalidArgument);
    throwsCode(() => parse(rawTar([{ name: 'a', pax: { path: 'x' } }]).subarray(0, 1024)), Code.DataLoss);
    throwsCode(() => parse(rawTar([{ name: 'a', data: 'abc' }]).subarray(0, 513)), Code.DataLoss);
    throwsCode(() => parse(rawTar([{ name: 'a' }]).subarray(0, 300)), Code.DataLoss);
    const badPax = rawTar([{ name: 'x', type: 'x', data: '99 path=a\n' }, { name: 'a' }]);
    throwsCode(() => parse(badPax), Code.InvalidArgument);
    const hugePax = rawTar([{ name: 'x', type: 'x', data: 'x', size: 2 << 20 }], { end: false });
    throwsCode(() => parse(hugePax), Code.InvalidArgument);
    throwsCode(() => parse(rawTar([{ name: 'a', data: 'x', pax: { uid: '12a' } }])), Code.InvalidArgument);
  });

  it('parses PAX records and times', () => {
    const recs = parsePaxRecords(Buffer.from('11 path=ab\n26 SCHILY.xattr.user.k=\x00\x01\n'));
    assert.deepEqual(recs.get('path'), Buffer.from('ab'));
    assert.deepEqual(recs.get('SCHILY.xattr.user.k'), Buffer.from([0, 1]));
    assert.deepEqual(parsePaxTime('1700000000.123456789123'), { sec: 1700000000, nsec: 123456789 });
    assert.deepEqual(parsePaxTime('5.5'), { sec: 5, nsec: 500000000 });
    assert.deepEqual(parsePaxTime('-1.25'), { sec: -2, nsec: 750000000 });
    assert.deepEqual(parsePaxTime('-3'), { sec: -3, nsec: 0 });
    throwsCode(() => parsePaxTime('1e9'), Code.InvalidArgument);
    throwsCode(() => parsePaxRecords(Buffer.from('10 path=ab')), Code.InvalidArgument);
  });

  it('round-trips headers from the writer, PAX included', () => {
    const entries = [
      { name: 'x'.repeat(150), typeflag: '0', mode: 0o640, uid: 3_000_000, gid: 1, size: 3, mtime: 2 ** 34, xattrs: new Map([['user.z', Buffer.from('v')]]) },
      { name: 'link', typeflag: '2', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 0, linkname: 'y'.repeat(101) },
      { name: 'caf\xc3\xa9', typeflag: '0', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1 },
    ];
    const tar = Buffer.concat([
      encodeHeader(entries[0]!),
      Buffer.from('abc'),
      dataPadding(3),
      encodeHeader(entries[1]!),
      encodeHeader(entries[2]!),
      END_OF_ARCHIVE,
    ]);
    const got = parse(tar, 1000);
    assert.equal(got[0]!.entry.name, 'x'.repeat(150));
    assert.equal(got[0]!.entry.uid, 3_000_000);
    assert.equal(got[0]!.entry.mtime.sec, 2 ** 34);
    assert.deepEqual(got[0]!.entry.xattrs.get('user.z'), Buffer.from('v'));
    assert.equal(got[0]!.data.toString(), 'abc');
    assert.equal(got[1]!.entry.linkname, 'y'.repeat(101));
    assert.equal(got[2]!.entry.name, 'caf\xc3\xa9');
  });
});
