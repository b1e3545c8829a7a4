import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { existsSync, readFileSync, readlinkSync, lstatSync, mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Code, codeOf } from '@flotilla/api';
import { applyLayer } from './apply.js';
import { treeManifest, compareManifests } from './tree-manifest.js';
import { TempDirs, buildSampleTree, gnuTarCreate, gnuTarExtract, have, run, CAP_NET_RAW } from './test-fixtures.js';
import { rawTar, sha256Bytes, chunked } from '@flotilla/testkit';
import { defaultNativeOps, nativeLoadError, PortableOps } from './native.js';
import { MediaTypeDockerLayer, MediaTypeDockerLayerGzip, MediaTypeOciLayer, MediaTypeOciLayerGzip, MediaTypeOciLayerZstd } from './media-types.js';

const TAR = MediaTypeOciLayer;
const native = defaultNativeOps();

describe('applyLayer', () => {
  const tmp = new TempDirs();
  let sample: string;
  let sampleTar: Buffer;

  before(() => {
    assert.equal(nativeLoadError(), undefined, 'the native helper (koffi) must load');
    sample = tmp.dir('sample');
    buildSampleTree(sample);
    sampleTar = gnuTarCreate(sample);
  });
  after(() => tmp.cleanup());

  it('extracts what GNU tar extracts (names, types, modes, owners, content, links, devices, xattrs, mtimes)', async () => {
    const gnu = tmp.dir('gnu');
    gnuTarExtract(sampleTar, gnu);
    const ours = tmp.dir('ours');
    const r = await applyLayer(chunked(sampleTar, 7919), { kind: 'dir', root: ours }, { mediaType: TAR });
    assert.equal(r.diffId, sha256Bytes(sampleTar));
    assert.equal(r.size, sampleTar.length);
    assert.equal(r.compression, 'none');
    const a = treeManifest(gnu);
    const b = treeManifest(ours);
    assert.deepEqual(compareManifests(a, b), []);
    // and GNU tar agrees with the source tree itself
    assert.deepEqual(compareManifests(treeManifest(sample), b), []);
    // spot checks
    assert.equal(lstatSync(join(ours, 'bin/su')).mode & 0o7777, 0o4755);
    assert.equal(readlinkSync(join(ours, 'abs-link')), '/etc/passwd');
    assert.deepEqual(native.lgetxattr(Buffer.from(join(ours, 'bin/ping')), 'security.capability'), CAP_NET_RAW);
    assert.ok(b.some((e) => e.path === 'dev/loop0' && e.type === 'block' && e.rdev === '7:0'));
    assert.equal(lstatSync(join(ours, 'usr/lib/libx-hard')).ino, lstatSync(join(ours, 'bin/libx-third')).ino);
  });

  it('diff ID equals sha256sum of the uncompressed tar, for gzip and zstd layers too', async () => {
    const expected = `sha256:${run('sha256sum', [], { input: sampleTar }).toString().split(' ')[0]}`;
    const gz = gzipSync(sampleTar);
    const d1 = tmp.dir('gz');
    const r1 = await applyLayer(Readable.from(chunked(gz, 65536)), { kind: 'dir', root: d1 }, { mediaType: MediaTypeOciLayerGzip });
    assert.equal(r1.diffId, expected);
    assert.equal(r1.compression, 'gzip');
    assert.deepEqual(compareManifests(treeManifest(sample), treeManifest(d1)), []);

    const zst = have('zstd') ? run('zstd', ['-q', '-c', '-3'], { input: sampleTar }) : undefined;
    if (!zst) return;
    const d2 = tmp.dir('zst');
    const r2 = await applyLayer(chunked(zst, 10_000), { kind: 'dir', root: d2 }, { mediaType: MediaTypeOciLayerZstd });
    assert.equal(r2.diffId, expected);
    assert.equal(r2.compression, 'zstd');
    assert.deepEqual(compareManifests(treeManifest(sample), treeManifest(d2)), []);
  });

  it('detects compression by magic bytes whatever the media type says', async () => {
    const tar = rawTar([{ name: 'hello', data: 'hi\n' }]);
    for (const [mediaType, bytes] of [
      [TAR, gzipSync(tar)],
      [MediaTypeDockerLayer, gzipSync(tar)],
      [MediaTypeDockerLayerGzip, tar],
      [MediaTypeOciLayerGzip, tar],
    ] as const) {
      const d = tmp.dir('magic');
      const r = await applyLayer(chunked(bytes, 3), { kind: 'dir', root: d }, { mediaType });
      assert.equal(readFileSync(join(d, 'hello'), 'utf8'), 'hi\n');
      assert.equal(r.diffId, sha256Bytes(tar));
    }
  });

  it('hashes trailing bytes after the end-of-archive marker, like containerd', async () => {
    const tar = Buffer.concat([rawTar([{ name: 'a', data: 'a' }]), Buffer.alloc(9216), Buffer.from('trailing junk')]);
    const d = tmp.dir('trail');
    const r = await applyLayer(chunked(tar, 1000), { kind: 'dir', root: d }, { mediaType: TAR });
    assert.equal(r.diffId, sha256Bytes(tar));
    assert.equal(r.size, tar.length);
  });

  it('accepts an empty stream as an empty layer and a tar without end marker', async () => {
    const d = tmp.dir('empty');
    const r = await applyLayer(chunked(Buffer.alloc(0), 1), { kind: 'dir', root: d }, { mediaType: TAR });
    assert.equal(r.diffId, sha256Bytes(Buffer.alloc(0)));
    const noEnd = rawTar([{ name: 'x', data: 'x' }], { end: false });
    await applyLayer(chunked(noEnd, 100), { kind: 'dir', root: d }, { mediaType: TAR });
    assert.equal(readFileSync(join(d, 'x'), 'utf8'), 'x');
  });

  it('rejects unknown and wrapped media types as Unimplemented', async () => {
    const d = tmp.dir('mt');
    for (const mediaType of ['application/octet-stream', 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted', 'application/vnd.oci.image.config.v1+json']) {
      await assert.rejects(applyLayer(chunked(rawTar([]), 10), { kind: 'dir', root: d }, { mediaType }), (e) => codeOf(e) === Code.Unimplemented);
    }
  });

  it('fails truncated gzip, corrupt gzip, corrupt headers and short streams with a code', async () => {
    const tar = rawTar([{ name: 'f', data: Buffer.alloc(50_000, 7) }, { name: 'g', data: 'g' }]);
    const gz = gzipSync(tar);
    const cases: Array<[string, Buffer, Code]> = [
      ['truncated gzip', gz.subarray(0, gz.length - 20), Code.DataLoss],
      ['truncated gzip (half)', gz.subarray(0, gz.length >> 1), Code.DataLoss],
      ['corrupt gzip', Buffer.concat([gz.subarray(0, 40), Buffer.alloc(40, 0xff), gz.subarray(80)]), Code.DataLoss],
      ['stream ends inside file data', tar.subarray(0, 20_000), Code.DataLoss],
      ['stream ends inside a header', tar.subarray(0, 512 + 50_176 + 100), Code.DataLoss],
      ['bad checksum', rawTar([{ name: 'f', data: 'x', badChecksum: true }]), Code.InvalidArgument],
      ['garbage header', Buffer.concat([Buffer.alloc(512, 0x41), Buffer.alloc(1024)]), Code.InvalidArgument],
      ['size lies (larger than the stream)', rawTar([{ name: 'f', data: 'abc', size: 4096 }], { end: false }), Code.DataLoss],
    ];
    if (have('zstd')) {
      const zst = run('zstd', ['-q', '-c'], { input: tar });
      cases.push(['truncated zstd', zst.subarray(0, zst.length - 30), Code.DataLoss]);
    }
    for (const [name, bytes, code] of cases) {
      const d = tmp.dir('bad');
      await assert.rejects(
        applyLayer(chunked(bytes, 4096), { kind: 'dir', root: d }, { mediaType: MediaTypeOciLayerGzip }),
        (e) => {
          assert.equal(codeOf(e), code, `${name}: ${String(e)}`);
          return true;
        },
        name,
      );
    }
  });

  it('merges into existing directories, replaces other entries, and keeps symlink targets verbatim', async () => {
    const d = tmp.dir('merge');
    mkdirSync(join(d, 'keep'));
    writeFileSync(join(d, 'keep/old'), 'old');
    mkdirSync(join(d, 'dir-becomes-file'));
    writeFileSync(join(d, 'dir-becomes-file/child'), 'c');
    writeFileSync(join(d, 'file-becomes-dir'), 'f');
    const tar = rawTar([
      { name: 'keep/', type: '5', mode: 0o700, uid: 7, gid: 8 },
      { name: 'keep/new', data: 'new' },
      { name: 'dir-becomes-file', data: 'now a file' },
      { name: 'file-becomes-dir/', type: '5' },
      { name: 'file-becomes-dir/inner', data: 'in' },
      { name: 'link', type: '2', linkname: '../../../../etc/shadow' },
      { name: 'nested/deeper/file', data: 'implicit parents' },
    ]);
    await applyLayer(chunked(tar, 512), { kind: 'dir', root: d }, { mediaType: TAR });
    assert.equal(readFileSync(join(d, 'keep/old'), 'utf8'), 'old');
    assert.equal(readFileSync(join(d, 'keep/new'), 'utf8'), 'new');
    const st = lstatSync(join(d, 'keep'));
    assert.equal(st.mode & 0o7777, 0o700);
    assert.equal(st.uid, 7);
    assert.equal(readFileSync(join(d, 'dir-becomes-file'), 'utf8'), 'now a file');
    assert.equal(readFileSync(join(d, 'file-becomes-dir/inner'), 'utf8'), 'in');
    assert.equal(readlinkSync(join(d, 'link')), '../../../../etc/shadow');
    assert.equal(lstatSync(join(d, 'nested/deeper')).mode & 0o7777, 0o755);
  });

  it('reads PAX records (long names, fractional and negative mtimes, ids, xattrs), GNU long names, v7 and old-style headers', async () => {
    const longName = `${'x'.repeat(120)}/${'y'.repeat(120)}`;
    const tar = rawTar([
      { name: 'placeholder', data: 'pax', pax: { path: longName, mtime: '1234567890.5', uid: '3000000', gid: '4000000' } },
      { name: 'ignored', gnuLongName: `${'g'.repeat(150)}`, data: 'gnu', format: 'gnu' },
      { name: 'lnk', type: '2', gnuLongLink: `${'t'.repeat(140)}`, format: 'gnu' },
      { name: 'x', data: 'x', pax: { 'SCHILY.xattr.user.bin': Buffer.from([0, 255, 10]), 'SCHILY.xattr.trusted.overlay.opaque': 'y' } },
      { name: 'pre-epoch', data: 'p', pax: { mtime: '-100.25' } },
      { name: 'v7file', data: 'v7', format: 'v7', type: '\0' },
      { name: 'v7dir/', format: 'v7', type: '\0' },
      { name: 'binname-\xff', data: 'b' },
    ]);
    const d = tmp.dir('pax');
    const warnings: string[] = [];
    await applyLayer(chunked(tar, 333), { kind: 'dir', root: d }, { mediaType: TAR, log: { warn: (_o, m) => warnings.push(m) } });
    const st = lstatSync(join(d, longName), { bigint: true });
    assert.equal(st.mtimeNs, 1234567890_500000000n);
    assert.equal(st.uid, 3000000n);
    assert.equal(st.gid, 4000000n);
    assert.equal(readFileSync(join(d, 'g'.repeat(150)), 'utf8'), 'gnu');
    assert.equal(readlinkSync(join(d, 'lnk')), 't'.repeat(140));
    assert.deepEqual(native.lgetxattr(Buffer.from(join(d, 'x')), 'user.bin'), Buffer.from([0, 255, 10]));
    assert.equal(native.lgetxattr(Buffer.from(join(d, 'x')), 'trusted.overlay.opaque'), undefined, 'trusted.* from archives is ignored');
    assert.ok(warnings.some((w) => w.includes('admin attributes')));
    assert.equal(lstatSync(join(d, 'pre-epoch'), { bigint: true }).mtimeNs, 0n, 'times before 1970 are bounded to the epoch');
    assert.equal(readFileSync(join(d, 'v7file'), 'utf8'), 'v7');
    assert.ok(lstatSync(join(d, 'v7dir')).isDirectory());
    const names = readdirSync(d, { encoding: 'buffer' }).map((b) => b.toString('latin1'));
    assert.ok(names.includes('binname-\xc3\xbf'), 'UTF-8 name bytes are kept as they are');
  });

  it('rejects sparse entries and unknown entry types as Unimplemented', async () => {
    for (const e of [{ name: 's', type: 'S', data: 'x' }, { name: 'v', type: 'V' }, { name: 'p', data: 'x', pax: { 'GNU.sparse.major': '1' } }]) {
      const d = tmp.dir('sparse');
      await assert.rejects(applyLayer(chunked(rawTar([e]), 512), { kind: 'dir', root: d }, { mediaType: TAR }), (err) => codeOf(err) === Code.Unimplemented);
    }
  });

  it('honours an AbortSignal (Canceled)', async () => {
    const d = tmp.dir('abort');
    const ac = new AbortController();
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield rawTar([{ name: 'a', data: 'a' }], { end: false });
      ac.abort();
      await new Promise((r) => setTimeout(r, 10_000).unref()); // a stalled source
      yield Buffer.alloc(1024);
    }
    const t0 = Date.now();
    await assert.rejects(applyLayer(slow(), { kind: 'dir', root: d }, { mediaType: TAR, signal: ac.signal }), (e) => codeOf(e) === Code.Canceled);
    assert.ok(Date.now() - t0 < 5000);
  });

  it('works with the portable (non-native) fallback for devices and times', async () => {
    const d = tmp.dir('portable');
    const tar = rawTar([
      { name: 'fifo', type: '6', mode: 0o600 },
      { name: 'null', type: '3', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'f', data: 'f', mtime: 1_000_000 },
    ]);
    await applyLayer(chunked(tar, 512), { kind: 'dir', root: d }, { mediaType: TAR, native: new PortableOps() });
    assert.ok(lstatSync(join(d, 'fifo')).isFIFO());
    assert.ok(lstatSync(join(d, 'null')).isCharacterDevice());
    assert.equal(lstatSync(join(d, 'f')).mtimeMs, 1_000_000_000);
    assert.ok(existsSync(join(d, 'f')));
  });
});
