/**
 * The proof the test images are right: Debian's real containerd imports them (OCI and docker
 * archives), reports the digests we computed, runs busybox from them, and unpacks the large image
 * to exactly the root filesystem the generator promises.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startContainerd, type ContainerdDaemon } from '../containerd.js';
import { ctr } from '../ctr.js';
import {
  buildBusyboxImage,
  buildLargeImage,
  dockerImportDigest,
  imageRefs,
  LARGE_IMAGE_PATHS,
  writeDockerArchive,
  writeOciArchive,
  type LargeImage,
  type RootfsEntry,
  type TestImage,
} from './index.js';

async function ctrOk(d: ContainerdDaemon, ns: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await ctr(d.address, args, { namespace: ns, timeoutMs });
  assert.equal(r.code, 0, `ctr -n ${ns} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The DIGEST column of `ctr images ls` for `name`. */
async function listedDigest(d: ContainerdDaemon, ns: string, name: string): Promise<string> {
  const out = await ctrOk(d, ns, ['images', 'ls']);
  const row = out.split('\n').find((l) => l.split(/\s+/)[0] === name);
  assert.ok(row, `ctr images ls in ${ns} does not list ${name}:\n${out}`);
  return row.split(/\s+/)[2]!;
}

async function assertComplete(d: ContainerdDaemon, ns: string, name: string): Promise<void> {
  const out = await ctrOk(d, ns, ['images', 'check']);
  const row = out.split('\n').find((l) => l.split(/\s+/)[0] === name);
  assert.ok(row, `ctr images check in ${ns} does not list ${name}:\n${out}`);
  assert.match(row, /complete \((\d+)\/\1\)/, row);
  assert.match(row, /\strue\s*$/, `not unpacked: ${row}`);
}

describe('busybox test image, checked by containerd', { timeout: 60_000 }, () => {
  let d: ContainerdDaemon;
  let dir: string;
  let image: TestImage;
  let oci: string;
  let docker: string;
  let dockerGz: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-images-'));
    [d, image] = await Promise.all([startContainerd(), buildBusyboxImage()]);
    oci = join(dir, 'busybox-oci.tar');
    docker = join(dir, 'busybox-docker.tar');
    dockerGz = join(dir, 'busybox-docker-gz.tar');
    await Promise.all([writeOciArchive(image, oci), writeDockerArchive(image, docker), writeDockerArchive(image, dockerGz, { compressedLayers: true })]);
  });
  after(async () => {
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is byte-for-byte reproducible', async (t) => {
    const again = await buildBusyboxImage();
    assert.deepEqual(again.manifestBytes, image.manifestBytes);
    assert.deepEqual(again.layers[0]!.tar, image.layers[0]!.tar);
    assert.deepEqual(again.layers[0]!.blob, image.layers[0]!.blob);
    assert.equal(await writeOciArchive(again, join(dir, 'again-oci.tar')), await writeOciArchive(image, join(dir, 'again2-oci.tar')));
    assert.equal(await writeDockerArchive(again, join(dir, 'again-docker.tar')), await writeDockerArchive(image, join(dir, 'again2-docker.tar')));
    const refs = imageRefs(image);
    t.diagnostic(`manifest ${refs.manifestDigest} config ${refs.configDigest} layer ${refs.layerDigests[0]} diffId ${refs.diffIds[0]}`);
    t.diagnostic(`docker import digest ${dockerImportDigest(image)} (gzip layers ${dockerImportDigest(image, { compressedLayers: true })})`);
  });

  it('has the entries a busybox rootfs needs', () => {
    const listing = execFileSync('tar', ['-tvf', '-'], { input: image.layers[0]!.tar as Buffer, encoding: 'utf8' });
    for (const applet of ['sh', 'echo', 'cat', 'ls', 'sleep', 'true', 'false', 'env', 'id', 'wc', 'head', 'top', 'ps', 'mkdir', 'touch', 'rm']) {
      assert.match(listing, new RegExp(`^l\\S+ 0/0 .* bin/${applet} -> busybox$`, 'm'), applet);
    }
    assert.match(listing, /^-rwxr-xr-x 0\/0 +\d+ 2000-01-01 00:00 bin\/busybox$/m);
    assert.match(listing, /^drwxrwxrwt 0\/0 .* tmp\/$/m);
    assert.match(listing, /^drwx------ 0\/0 .* root\/$/m);
    assert.match(listing, / etc\/passwd$/m);
    assert.match(listing, / etc\/group$/m);
    assert.deepEqual(image.config.config, { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] });
    assert.equal(image.config.architecture, 'amd64');
    assert.equal(image.config.os, 'linux');
    assert.deepEqual(image.config.rootfs.diff_ids, [image.layers[0]!.diffId]);
  });

  it('imports as an OCI archive with our manifest digest, complete and unpacked', async () => {
    const out = await ctrOk(d, 'oci', ['images', 'import', oci]);
    assert.match(out, new RegExp(`unpacking ${image.name} \\(${image.manifestDescriptor.digest}\\)\\.\\.\\.done`));
    assert.equal(await listedDigest(d, 'oci', image.name), image.manifestDescriptor.digest);
    await assertComplete(d, 'oci', image.name);
    // Importing again changes nothing.
    await ctrOk(d, 'oci', ['images', 'import', oci]);
    assert.equal(await listedDigest(d, 'oci', image.name), image.manifestDescriptor.digest);
  });

  it('exports from containerd with the same index.json and blobs we wrote', async () => {
    const exported = join(dir, 'exported.tar');
    await ctrOk(d, 'oci', ['images', 'export', exported, image.name]);
    const index = execFileSync('tar', ['-xOf', exported, 'index.json']);
    assert.equal(index.toString(), JSON.stringify(image.index));
    const blobs = execFileSync('tar', ['-tf', exported], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /^blobs\/sha256\/./.test(l))
      .sort();
    const ours = execFileSync('tar', ['-tf', oci], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /^blobs\/sha256\/./.test(l))
      .sort();
    assert.deepEqual(blobs, ours);
  });

  it('imports as a docker archive (uncompressed and gzip layers) with the predicted digest', async () => {
    await ctrOk(d, 'docker', ['images', 'import', docker]);
    assert.equal(await listedDigest(d, 'docker', image.name), dockerImportDigest(image));
    await assertComplete(d, 'docker', image.name);
    await ctrOk(d, 'docker-gz', ['images', 'import', dockerGz]);
    assert.equal(await listedDigest(d, 'docker-gz', image.name), dockerImportDigest(image, { compressedLayers: true }));
    await assertComplete(d, 'docker-gz', image.name);
  });

  it('runs: echo prints hi, sh exits 7, from both imports', async () => {
    const hi = await ctr(d.address, ['run', '--rm', image.name, 't1', '/bin/echo', 'hi'], { namespace: 'oci' });
    assert.equal(hi.code, 0, hi.stderr);
    assert.equal(hi.stdout, 'hi\n');
    const seven = await ctr(d.address, ['run', '--rm', image.name, 't2', 'sh', '-c', 'exit 7'], { namespace: 'oci' });
    assert.equal(seven.code, 7, seven.stderr);
    const env = await ctr(d.address, ['run', '--rm', image.name, 't3', 'env'], { namespace: 'docker' });
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stdout, /^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
    const id = await ctr(d.address, ['run', '--rm', image.name, 't4', 'id'], { namespace: 'docker-gz' });
    assert.equal(id.code, 0, id.stderr);
    assert.match(id.stdout, /^uid=0\(root\) gid=0\(root\)/);
  });
});

async function fileDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return 'sha256:' + h.digest('hex');
}

const TYPE_OF = (st: Stats): RootfsEntry['type'] =>
  st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : ('other' as never);

/** Every path under `root` (relative), depth first. */
function walk(root: string, rel = '', out: string[] = []): string[] {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    out.push(p);
    if (lstatSync(join(root, p)).isDirectory()) walk(root, p, out);
  }
  return out;
}

const skipLarge = process.env.FLOTILLA_SKIP_LARGE === '1';

describe('large test image, imported and unpacked by containerd', { skip: skipLarge ? 'FLOTILLA_SKIP_LARGE=1' : false, timeout: 300_000 }, () => {
  let d: ContainerdDaemon;
  let image: LargeImage;
  let mnt: string;
  const ns = 'large';

  let buildNote = '';

  before(async () => {
    d = await startContainerd();
    const t0 = performance.now();
    image = await buildLargeImage();
    buildNote = (`large image ${image.cached ? 'reused from cache' : 'built'} in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${image.dir}`);
    mnt = join(d.dir, 'mnt');
    mkdirSync(mnt);
  });
  after(async () => {
    if (d) {
      await ctr(d.address, ['images', 'unmount', '--rm', mnt], { namespace: ns });
      await d.stop();
    }
  });

  it('imports with our manifest digest and is complete', async (t) => {
    t.diagnostic(buildNote);
    const t0 = performance.now();
    await ctrOk(d, ns, ['images', 'import', image.ociArchive], 180_000);
    t.diagnostic(`ctr images import (with unpack) took ${((performance.now() - t0) / 1000).toFixed(1)} s for ${image.layers.length} layers, ${image.layers.reduce((n, l) => n + l.tarSize, 0)} bytes uncompressed`);
    assert.equal(await listedDigest(d, ns, image.name), image.manifestDescriptor.digest);
    await assertComplete(d, ns, image.name);
  });

  it('unpacks to exactly the expected root filesystem', async () => {
    await ctrOk(d, ns, ['images', 'mount', image.name, mnt]);
    const expected = image.rootfs;
    const found = walk(mnt);
    const extra = found.filter((p) => !(p in expected));
    const missing = Object.keys(expected).filter((p) => !found.includes(p));
    assert.deepEqual(extra, [], 'paths that should not exist');
    assert.deepEqual(missing, [], 'paths that should exist');
    for (const [p, want] of Object.entries(expected)) {
      const st = lstatSync(join(mnt, p));
      const got: Partial<RootfsEntry> = { type: TYPE_OF(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      const wantBasic: Partial<RootfsEntry> = { type: want.type, mode: want.mode, uid: want.uid, gid: want.gid };
      if (want.type === 'file') {
        got.size = st.size;
        wantBasic.size = want.size;
        got.sha256 = await fileDigest(join(mnt, p));
        wantBasic.sha256 = want.sha256;
      }
      if (want.type === 'symlink') {
        delete got.mode;
        delete wantBasic.mode;
        got.linkname = readlinkSync(join(mnt, p));
        wantBasic.linkname = want.linkname;
      }
      if (want.type === 'char' || want.type === 'block') {
        got.devmajor = (st.rdev >> 8) & 0xfff;
        got.devminor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
        wantBasic.devmajor = want.devmajor;
        wantBasic.devminor = want.devminor;
      }
      assert.deepEqual(got, wantBasic, p);
    }
  });

  it('honours whiteouts, the opaque dir, type changes and replacements', () => {
    const P = LARGE_IMAGE_PATHS;
    assert.equal(lstatSync(join(mnt, P.deletedFile), { throwIfNoEntry: false }), undefined);
    assert.equal(lstatSync(join(mnt, P.deletedDir), { throwIfNoEntry: false }), undefined);
    assert.equal(lstatSync(join(mnt, 'data/l1/d00/d0/f00000.bin'), { throwIfNoEntry: false }), undefined);
    assert.ok(lstatSync(join(mnt, P.keptFile)).isFile());
    assert.deepEqual(readdirSync(join(mnt, P.opaqueDir)).sort(), [...P.opaqueChildren]);
    assert.equal(readFileSync(join(mnt, P.replacedFile), 'utf8'), 'v2\n');
    assert.ok(lstatSync(join(mnt, 'type-change')).isFile());
    assert.ok(lstatSync(join(mnt, 'type-change-2')).isDirectory());
    if (image.layers.length >= 4) assert.deepEqual(readdirSync(join(mnt, 'wh/dir-gone')), ['reborn.txt']);
    if (image.layers.length >= 5) assert.equal(lstatSync(join(mnt, 'data/l1/d05'), { throwIfNoEntry: false }), undefined);
    assert.equal(lstatSync(join(mnt, P.hardlinks[0])).ino, lstatSync(join(mnt, P.hardlinks[1])).ino);
    assert.ok(lstatSync(join(mnt, P.fifo)).isFIFO());
    assert.ok(lstatSync(join(mnt, P.charDevice)).isCharacterDevice());
    assert.ok(lstatSync(join(mnt, P.blockDevice)).isBlockDevice());
    assert.equal(lstatSync(join(mnt, P.setuidFile)).mode & 0o7777, 0o4755);
    assert.equal(lstatSync(join(mnt, P.stickyDir)).mode & 0o7777, 0o1777);
  });

  it('keeps user xattrs', () => {
    // Node has no xattr API: let GNU tar read them and look for its PAX records.
    for (const [p, want] of Object.entries(image.rootfs)) {
      if (!want.xattrs) continue;
      const archive = execFileSync('tar', ['--xattrs', '--xattrs-include=user.*', '--no-recursion', '-cf', '-', '-C', mnt, p], { maxBuffer: 1 << 24 });
      for (const [k, v] of Object.entries(want.xattrs)) {
        const record = `SCHILY.xattr.${k}=${v}\n`;
        assert.ok(archive.includes(Buffer.from(record)), `${p}: xattr ${k} missing`);
      }
    }
  });
});
