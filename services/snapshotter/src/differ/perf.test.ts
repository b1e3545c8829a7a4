/**
 * Throughput of applyLayer on a 300 MB layer of many small files (generated on the fly, so only the
 * extraction is measured), uncompressed and gzip, written to a fresh journaled ext4 (loop device).
 * Prints MB/s; fails only when far too slow.
 *
 * Why not /tmp: on the development VMs the root filesystem is ext4 without a journal, where
 * creating files right after many were deleted is slow for a while (the allocator skips recently
 * deleted inodes one by one); there even GNU tar needs ~12 s for this layer, and the number would
 * measure the previous test's cleanup rather than the differ.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createGzip, constants as zc } from 'node:zlib';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { applyLayer } from './apply.js';
import { TempDirs, have, run } from './test-fixtures.js';
import { nativeZstd } from './decompress.js';
import { rawTar } from '@flotilla/testkit';
import { MediaTypeOciLayer, MediaTypeOciLayerGzip, MediaTypeOciLayerZstd } from './media-types.js';

const FILES = 24_000;
const DIRS = 240;
// half random, half text-like: compresses about 2:1 like typical layers
const pool = Buffer.concat([randomBytes(1 << 19), Buffer.from('lorem ipsum dolor sit amet '.repeat(20_000)).subarray(0, 1 << 19)]);

/** A layer of `dirs` directories of 100 files of 4–21 KiB (240 dirs ≈ 300 MB), in ~1 MiB chunks. */
async function* manySmallFiles(dirs = DIRS): AsyncGenerator<Uint8Array> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  for (let d = 0; d < dirs; d++) {
    batch.push(rawTar([{ name: `d${d}/`, type: '5', mode: 0o755 }], { end: false }));
    for (let f = 0; f < FILES / DIRS; f++) {
      const i = d * (FILES / DIRS) + f;
      const size = 4096 + ((i * 7919) % (17 * 1024));
      const off = (i * 4099) % (pool.length - size);
      const entry = rawTar([{ name: `d${d}/file-${f}.bin`, data: pool.subarray(off, off + size), mode: 0o644, uid: 1000, gid: 1000 }], { end: false });
      batch.push(entry);
      batchBytes += entry.length;
      if (batchBytes >= 1 << 20) {
        yield Buffer.concat(batch);
        batch = [];
        batchBytes = 0;
      }
    }
  }
  batch.push(Buffer.alloc(1024));
  yield Buffer.concat(batch);
}

describe('apply throughput', () => {
  const tmp = new TempDirs();
  let fs: string | undefined;
  before(() => {
    fs = tmp.scratchExt4();
    if (!fs) console.log('# no loop device: measuring on the temp directory instead');
  });
  after(() => tmp.cleanup());
  const target = (name: string): string => {
    if (!fs) return tmp.dir(name);
    const d = join(fs, name);
    mkdirSync(d);
    return d;
  };

  it('applies ~300 MB of small files in a few seconds', async () => {
    const root = target('perf');
    const t0 = performance.now();
    const r = await applyLayer(manySmallFiles(), { kind: 'dir', root }, { mediaType: MediaTypeOciLayer });
    const secs = (performance.now() - t0) / 1000;
    const mb = r.size / 1e6;
    console.log(`# apply (tar): ${mb.toFixed(0)} MB, ${r.entries} entries in ${secs.toFixed(2)} s = ${(mb / secs).toFixed(0)} MB/s, ${(r.entries / secs).toFixed(0)} entries/s`);
    assert.equal(r.entries, FILES + DIRS);
    assert.equal(readdirSync(root).length, DIRS);
    assert.ok(secs < 30, 'far too slow');
  });

  it('applies a gzip-compressed layer', async () => {
    const root = target('perf-gz');
    const gz = Readable.from(manySmallFiles(60)).pipe(createGzip({ level: 1, strategy: zc.Z_DEFAULT_STRATEGY }));
    const parts: Buffer[] = [];
    for await (const c of gz) parts.push(c as Buffer);
    const blob = Buffer.concat(parts);
    const t0 = performance.now();
    const r = await applyLayer(Readable.from([blob]), { kind: 'dir', root }, { mediaType: MediaTypeOciLayerGzip });
    const secs = (performance.now() - t0) / 1000;
    const mb = r.size / 1e6;
    console.log(`# apply (gzip): ${(blob.length / 1e6).toFixed(0)} MB compressed, ${mb.toFixed(0)} MB in ${secs.toFixed(2)} s = ${(mb / secs).toFixed(0)} MB/s uncompressed`);
    assert.ok(secs < 30, 'far too slow');
  });

  it('applies a zstd-compressed layer', async (t) => {
    if (!have('zstd')) return t.skip('zstd CLI not installed');
    const parts: Buffer[] = [];
    for await (const c of manySmallFiles(60)) parts.push(Buffer.from(c));
    const blob = run('zstd', ['-q', '-c', '-3'], { input: Buffer.concat(parts) });
    const root = target('perf-zstd');
    const t0 = performance.now();
    const r = await applyLayer(Readable.from([blob]), { kind: 'dir', root }, { mediaType: MediaTypeOciLayerZstd });
    const secs = (performance.now() - t0) / 1000;
    const mb = r.size / 1e6;
    console.log(`# apply (zstd, ${nativeZstd ? 'node:zlib' : 'fzstd'}): ${(blob.length / 1e6).toFixed(0)} MB compressed, ${mb.toFixed(0)} MB in ${secs.toFixed(2)} s = ${(mb / secs).toFixed(0)} MB/s uncompressed`);
    assert.ok(secs < 30, 'far too slow');
  });
});
