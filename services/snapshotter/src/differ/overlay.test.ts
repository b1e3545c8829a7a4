/**
 * Whiteouts and opaque directories on both target kinds, checked against a real overlayfs mount:
 * three layers applied as overlay uppers and mounted must show exactly the tree the same layers make
 * when applied one after the other to a single directory (the native snapshotter's way). Then a
 * container-like session changes the mounted view, and the upper is diffed and re-applied.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyLayer } from './apply.js';
import { diffLayer } from './diff.js';
import { treeManifest, compareManifests } from './tree-manifest.js';
import { TempDirs, run } from './test-fixtures.js';
import { rawTar, chunked, type RawEntry } from '@flotilla/testkit';
import { defaultNativeOps, splitDev, S_IFIFO } from './native.js';
import { MediaTypeOciLayer } from './media-types.js';

const native = defaultNativeOps();
const TAR = MediaTypeOciLayer;

const L1: RawEntry[] = [
  { name: 'a', data: 'a1' },
  { name: 'b', data: 'b1' },
  { name: 'd/', type: '5' },
  { name: 'd/x', data: 'x' },
  { name: 'd/y', data: 'y' },
  { name: 'd/sub/', type: '5' },
  { name: 'd/sub/z', data: 'z' },
  { name: 'e/', type: '5' },
  { name: 'e/p', data: 'p' },
  { name: 'e/q', data: 'q' },
  { name: 'keep/', type: '5', mode: 0o750, uid: 1000, gid: 1001, pax: { 'SCHILY.xattr.user.tag': 'kept' } },
  { name: 'keep/k', data: 'k' },
  { name: 'o/', type: '5' },
  { name: 'o/old', data: 'old' },
  { name: 'o/sub/', type: '5' },
  { name: 'o/sub/deep-old', data: 'deep' },
  { name: 'link', type: '2', linkname: 'd' },
  { name: 'dev/', type: '5' },
  { name: 'dev/null', type: '3', devmajor: 1, devminor: 3, mode: 0o666 },
];
const L2: RawEntry[] = [
  { name: '.wh.a' },
  { name: 'd/.wh..wh..opq' },
  { name: 'd/new', data: 'new' },
  { name: 'e/.wh.p' },
  { name: 'f', data: 'f2' },
  { name: 'keep/k2', data: 'k2' },
];
const L3: RawEntry[] = [
  { name: 'a', data: 'a3' },
  { name: '.wh.d' },
  { name: 'e/', type: '5', mode: 0o700 },
  { name: 'g/.wh..wh..opq' },
  { name: 'g/h', data: 'h' },
  { name: '.wh.b' },
  { name: 'b/', type: '5' },
  { name: 'b/inside', data: 'inside' },
  { name: 'o/x', data: 'x3' },
  { name: 'o/sub/new', data: 'n3' },
  { name: 'o/.wh..wh..opq' },
];

describe('whiteouts and opaque directories (overlayfs mount vs native)', () => {
  const tmp = new TempDirs();
  const uppers: string[] = [];
  let native3: string;
  before(async () => {
    native3 = tmp.dir('native');
    for (const [i, layer] of [L1, L2, L3].entries()) {
      const tar = rawTar(layer);
      const upper = tmp.dir(`upper${i + 1}`);
      await applyLayer(chunked(tar, 1024), { kind: 'overlay-upper', upper, lowers: [...uppers].reverse() }, { mediaType: TAR });
      uppers.push(upper);
      await applyLayer(chunked(tar, 1024), { kind: 'dir', root: native3 }, { mediaType: TAR });
    }
  });
  after(() => tmp.cleanup());

  it('writes overlayfs whiteouts (char 0:0) and opaque xattrs into the upper', () => {
    const [u1, u2, u3] = uppers as [string, string, string];
    const wa = lstatSync(join(u2, 'a'), { bigint: true });
    assert.ok(wa.isCharacterDevice());
    assert.deepEqual(splitDev(wa.rdev), { major: 0, minor: 0 });
    assert.ok(lstatSync(join(u2, 'e/p')).isCharacterDevice());
    assert.ok(lstatSync(join(u3, 'd')).isCharacterDevice());
    assert.deepEqual(native.lgetxattr(Buffer.from(join(u2, 'd')), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.deepEqual(native.lgetxattr(Buffer.from(join(u3, 'o')), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.equal(native.lgetxattr(Buffer.from(join(u3, 'o/sub')), 'trusted.overlay.opaque'), undefined);
    // the opaque marker removed nothing this layer wrote, before or after it
    assert.deepEqual(readdirSync(join(u3, 'o')).sort(), ['sub', 'x']);
    // a parent created in the upper takes owner, mode and xattrs from the lower that has it
    const k = lstatSync(join(u2, 'keep'));
    assert.equal(k.mode & 0o7777, 0o750);
    assert.equal(k.uid, 1000);
    assert.equal(k.gid, 1001);
    assert.deepEqual(native.lgetxattr(Buffer.from(join(u2, 'keep')), 'user.tag'), Buffer.from('kept'));
    assert.ok(existsSync(join(u1, 'd/x')));
  });

  it('native application deletes whiteouts and clears opaque directories except what the layer wrote', () => {
    assert.equal(readFileSync(join(native3, 'a'), 'utf8'), 'a3');
    assert.ok(!existsSync(join(native3, 'd')));
    assert.deepEqual(readdirSync(join(native3, 'e')).sort(), ['q']);
    assert.deepEqual(readdirSync(join(native3, 'o')).sort(), ['sub', 'x']);
    assert.deepEqual(readdirSync(join(native3, 'o/sub')).sort(), ['new']);
    assert.deepEqual(readdirSync(join(native3, 'g')).sort(), ['h']);
    assert.equal(readFileSync(join(native3, 'b/inside'), 'utf8'), 'inside');
    assert.deepEqual(readdirSync(join(native3, 'keep')).sort(), ['k', 'k2']);
  });

  it('the mounted overlay shows the same tree as the native application', () => {
    const work = tmp.dir('work');
    const mnt = tmp.dir('mnt');
    const [u1, u2, u3] = uppers as [string, string, string];
    tmp.mountOverlay([u2, u1], u3, work, mnt);
    try {
      const merged = treeManifest(mnt, { dirMtime: false });
      const nat = treeManifest(native3, { dirMtime: false });
      assert.deepEqual(compareManifests(nat, merged), []);
      assert.ok(merged.some((e) => e.path === 'keep/k2'));
      assert.ok(!merged.some((e) => e.path.startsWith('d/') || e.path === 'd'));
    } finally {
      tmp.unmount(mnt);
    }
  });

  it('diffs a changed upper and re-applies it to both target kinds', async () => {
    const [u1, u2, u3] = uppers as [string, string, string];
    const work = tmp.dir('work');
    const mnt = tmp.dir('mnt');
    tmp.mountOverlay([u2, u1], u3, work, mnt);
    let expected: ReturnType<typeof treeManifest>;
    try {
      writeFileSync(join(mnt, 'newfile'), 'created in the container');
      native.lsetxattr(Buffer.from(join(mnt, 'newfile')), 'user.x', Buffer.from('1'));
      linkSync(join(mnt, 'newfile'), join(mnt, 'newfile-link'));
      symlinkSync('newfile', join(mnt, 'sym'));
      native.mknod(Buffer.from(join(mnt, 'fifo')), S_IFIFO | 0o600, 0, 0);
      rmSync(join(mnt, 'f'));
      appendFileSync(join(mnt, 'keep/k'), ' modified');
      chmodSync(join(mnt, 'e/q'), 0o600);
      rmSync(join(mnt, 'keep'), { recursive: true });
      mkdirSync(join(mnt, 'keep'));
      // (a layer cannot remove an xattr from a directory that merges into an existing one, as in
      // containerd: give the new directory its own value so both targets agree)
      native.lsetxattr(Buffer.from(join(mnt, 'keep')), 'user.tag', Buffer.from('new'));
      writeFileSync(join(mnt, 'keep/only'), 'only');
      rmSync(join(mnt, 'o'), { recursive: true });
      expected = treeManifest(mnt, { dirMtime: false, mtime: 's', symlinkMtime: false });
    } finally {
      tmp.unmount(mnt);
    }
    assert.ok(lstatSync(join(u3, 'f')).isCharacterDevice(), 'overlayfs wrote a whiteout');

    const chunks: Buffer[] = [];
    for await (const c of diffLayer([u2, u1], { kind: 'overlay-upper', upper: u3 })) chunks.push(Buffer.from(c));
    const tar = Buffer.concat(chunks);
    const listing = run('tar', ['-tf', '-'], { input: tar }).toString().split('\n');
    assert.ok(listing.includes('.wh.f'), 'whiteout entry');
    assert.ok(listing.includes('keep/.wh..wh..opq'), 'opaque entry');
    assert.ok(listing.includes('.wh.o'));
    assert.ok(listing.indexOf('keep/') < listing.indexOf('keep/.wh..wh..opq'));

    // native: onto the tree of the first two layers
    const nat = tmp.dir('native2');
    for (const layer of [L1, L2]) await applyLayer(chunked(rawTar(layer), 4096), { kind: 'dir', root: nat }, { mediaType: TAR });
    await applyLayer(chunked(tar, 4096), { kind: 'dir', root: nat }, { mediaType: TAR });
    assert.deepEqual(compareManifests(expected, treeManifest(nat, { dirMtime: false, mtime: 's', symlinkMtime: false })), []);

    // overlay: as a new upper over the same lowers, mounted read-only
    const fresh = tmp.dir('upper-fresh');
    await applyLayer(chunked(tar, 4096), { kind: 'overlay-upper', upper: fresh, lowers: [u2, u1] }, { mediaType: TAR });
    const ro = tmp.dir('mnt-ro');
    tmp.mountOverlay([fresh, u2, u1], undefined, undefined, ro);
    try {
      assert.deepEqual(compareManifests(expected, treeManifest(ro, { dirMtime: false, mtime: 's', symlinkMtime: false })), []);
    } finally {
      tmp.unmount(ro);
    }
  });

  it('diffs a full tree against overlay lowers read as a merged view (no mount)', async () => {
    const [u1, u2] = uppers as [string, string, string];
    const parts: Buffer[] = [];
    for await (const c of diffLayer([u2, u1], { kind: 'dir', root: native3 })) parts.push(Buffer.from(c));
    const tar = Buffer.concat(parts);
    const names = run('tar', ['-tf', '-'], { input: tar }).toString().trim().split('\n');
    assert.ok(names.includes('.wh.d'));
    assert.ok(!names.includes('e/.wh.p'), 'e/p is already hidden by a lower whiteout');
    assert.ok(!names.some((n) => n.startsWith('d/')), 'the opaque lower d shows only its own entries, and d is gone');
    const nat = tmp.dir('native12');
    for (const layer of [L1, L2]) await applyLayer(chunked(rawTar(layer), 4096), { kind: 'dir', root: nat }, { mediaType: TAR });
    await applyLayer(chunked(tar, 4096), { kind: 'dir', root: nat }, { mediaType: TAR });
    const opts = { dirMtime: false, mtime: 's', symlinkMtime: false } as const;
    assert.deepEqual(compareManifests(treeManifest(native3, opts), treeManifest(nat, opts)), []);
  });
});
