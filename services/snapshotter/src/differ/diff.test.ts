import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { chmodSync, lchownSync, linkSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code, codeOf } from '@flotilla/api';
import { applyLayer } from './apply.js';
import { compressGzip, diffLayer } from './diff.js';
import { treeManifest, compareManifests, type ManifestOptions } from './tree-manifest.js';
import { TempDirs, buildSampleTree, gnuTarExtract, run } from './test-fixtures.js';
import { chunked } from '@flotilla/testkit';
import { defaultNativeOps } from './native.js';
import { MediaTypeOciLayer, MediaTypeOciLayerGzip } from './media-types.js';

const native = defaultNativeOps();
const TAR = MediaTypeOciLayer;
const SECONDS: ManifestOptions = { mtime: 's', symlinkMtime: false };

async function collect(s: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

function setTime(p: string, sec: number, nsec = 0): void {
  native.lutimens(Buffer.from(p), { sec, nsec }, { sec, nsec });
}

describe('diffLayer (dir)', () => {
  const tmp = new TempDirs();
  let parent: string;
  before(() => {
    parent = tmp.dir('parent');
    buildSampleTree(parent);
  });
  after(() => tmp.cleanup());

  it('a base layer reproduces the tree, and GNU tar reads our tar the same way', async () => {
    const tar = await collect(diffLayer([], { kind: 'dir', root: parent }));
    assert.equal(tar.length % 512, 0);
    const ours = tmp.dir('base-ours');
    await applyLayer(chunked(tar, 65536), { kind: 'dir', root: ours }, { mediaType: TAR });
    assert.deepEqual(compareManifests(treeManifest(parent, SECONDS), treeManifest(ours, SECONDS)), []);
    const gnu = tmp.dir('base-gnu');
    gnuTarExtract(tar, gnu);
    assert.deepEqual(compareManifests(treeManifest(gnu), treeManifest(ours)), []);
    // deterministic
    assert.ok(tar.equals(await collect(diffLayer([], { kind: 'dir', root: parent }))));
  });

  it('a changed copy diffs to a layer that turns the parent into the copy', async () => {
    const child = tmp.dir('child');
    run('cp', ['-a', `${parent}/.`, child]);
    const c = (...s: string[]): string => join(child, ...s);
    writeFileSync(c('added.txt'), 'new file');
    mkdirSync(c('newdir/sub'), { recursive: true });
    writeFileSync(c('newdir/sub/f'), 'f');
    unlinkSync(c('etc/shadow'));
    rmSync(c('srv/data'), { recursive: true });
    rmSync(c('deep'), { recursive: true });
    writeFileSync(c('etc/passwd'), 'changed content, different size\n');
    chmodSync(c('bin/wall'), 0o755);
    lchownSync(c('bin/su'), 33, 33);
    chmodSync(c('bin/su'), 0o4755);
    native.lsetxattr(Buffer.from(c('bin/ping')), 'user.added', Buffer.from('v'));
    unlinkSync(c('lib64'));
    symlinkSync('usr/lib64', c('lib64'));
    rmSync(c('run'), { recursive: true });
    writeFileSync(c('run'), 'dir became a file');
    unlinkSync(c('srv/empty'));
    mkdirSync(c('srv/empty'));
    writeFileSync(c('srv/empty/now-a-dir'), '');
    // a new hardlink to an unchanged file: both names must come out linked
    linkSync(c('srv/big.bin'), c('big-hardlink'));
    // same size, same whole-second mtime, different content: found by comparing content
    writeFileSync(join(parent, 'same-size'), 'aaaa');
    writeFileSync(c('same-size'), 'bbbb');
    setTime(join(parent, 'same-size'), 1_700_000_000);
    setTime(c('same-size'), 1_700_000_000);
    // same content and time: unchanged, not in the layer
    writeFileSync(join(parent, 'unchanged'), 'u');
    writeFileSync(c('unchanged'), 'u');
    setTime(join(parent, 'unchanged'), 1_700_000_000, 5);
    setTime(c('unchanged'), 1_700_000_000, 5);

    const tar = await collect(diffLayer([], { kind: 'dir', root: child, parentRoot: parent }));
    const names = run('tar', ['-tf', '-'], { input: tar }).toString().trim().split('\n');
    assert.ok(names.includes('etc/.wh.shadow'));
    assert.ok(names.includes('srv/.wh.data'));
    assert.ok(names.includes('.wh.deep'));
    assert.ok(!names.some((n) => n.startsWith('deep/')), 'children of a removed directory are implied');
    assert.ok(names.includes('same-size'));
    assert.ok(!names.includes('unchanged'));
    assert.ok(!names.includes('tmp/'), 'unchanged directories are left out');
    assert.ok(names.includes('big-hardlink') && names.includes('srv/big.bin'));
    assert.ok(names.indexOf('etc/') < names.indexOf('etc/.wh.shadow'), 'parents come first');

    const applied = tmp.dir('applied');
    run('cp', ['-a', `${parent}/.`, applied]);
    await applyLayer(chunked(tar, 10_000), { kind: 'dir', root: applied }, { mediaType: TAR });
    assert.deepEqual(compareManifests(treeManifest(child, SECONDS), treeManifest(applied, SECONDS)), []);

    // the same through gzip
    const gz = await collect(compressGzip(diffLayer([], { kind: 'dir', root: child, parentRoot: parent }), { level: 1 }));
    assert.ok(gunzipSync(gz).equals(tar));
    const applied2 = tmp.dir('applied-gz');
    run('cp', ['-a', `${parent}/.`, applied2]);
    const r = await applyLayer(chunked(gz, 8192), { kind: 'dir', root: applied2 }, { mediaType: MediaTypeOciLayerGzip });
    assert.equal(r.size, tar.length);
    assert.deepEqual(compareManifests(treeManifest(child, SECONDS), treeManifest(applied2, SECONDS)), []);
  });

  it('uses PAX for long names, non-ASCII names, big ids and xattrs', async () => {
    const d = tmp.dir('pax');
    const long = join('l'.repeat(120), 'm'.repeat(120));
    mkdirSync(join(d, long), { recursive: true });
    writeFileSync(join(d, long, 'f'), 'x');
    writeFileSync(join(d, 'nön-ascii-ß'), 'y');
    writeFileSync(Buffer.from(`${d}/bin-\xff\xfe`, 'latin1'), 'z');
    writeFileSync(join(d, 'big-ids'), 'w');
    lchownSync(join(d, 'big-ids'), 3_000_000, 4_000_000);
    native.lsetxattr(Buffer.from(join(d, 'big-ids')), 'user.k', Buffer.from([0, 10, 255]));
    native.lsetxattr(Buffer.from(join(d, 'big-ids')), 'trusted.skip', Buffer.from('no'));
    const tar = await collect(diffLayer([], { kind: 'dir', root: d }));
    assert.match(tar.toString('latin1'), /path=l{120}\/m{120}\/f\n/);
    assert.match(tar.toString('latin1'), /hdrcharset=BINARY/);
    assert.doesNotMatch(tar.toString('latin1'), /trusted\.skip/);
    const out = tmp.dir('pax-out');
    await applyLayer(chunked(tar, 700), { kind: 'dir', root: out }, { mediaType: TAR });
    const expect = treeManifest(d, { ...SECONDS, xattr: (n) => n.startsWith('user.') });
    assert.deepEqual(compareManifests(expect, treeManifest(out, SECONDS)), []);
    const gnu = tmp.dir('pax-gnu');
    gnuTarExtract(tar, gnu);
    assert.deepEqual(compareManifests(treeManifest(gnu), treeManifest(out)), []);
  });

  it('compressGzip passes the error kind of its source through', async () => {
    await assert.rejects(collect(compressGzip(diffLayer([], { kind: 'dir', root: join(parent, 'nope') }))), (e) => codeOf(e) === Code.FailedPrecondition);
  });

  it('stops with Canceled and reports a missing source as FailedPrecondition', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(collect(diffLayer([], { kind: 'dir', root: parent }, { signal: ac.signal })), (e) => codeOf(e) === Code.Canceled);
    await assert.rejects(collect(diffLayer([], { kind: 'dir', root: join(parent, 'nope') })), (e) => codeOf(e) === Code.FailedPrecondition);
  });
});
