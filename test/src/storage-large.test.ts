/**
 * The large test image (buildLargeImage(): busybox plus four generated layers with thousands of
 * files, big files, links, devices, FIFOs, xattrs, special modes, foreign owners, long and
 * non-ASCII names, whiteouts, an opaque directory and type changes) imported into Flotilla and into
 * Debian's containerd, mounted with `ctr images mount` on both, and the two trees compared with the
 * differ's tree manifest: names, types, modes, owners, sizes, link targets, device numbers, content
 * hashes, xattrs and hardlink groups. References: containerd's unpack (the reference), GNU tar's
 * extraction of the layers applied in order with the whiteouts applied by hand, and the testkit's
 * own description of the expected rootfs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildLargeImage, imageRefs, LARGE_IMAGE_PATHS, startContainerd, startFlotilla, type ContainerdDaemon, type FlotillaStack, type LargeImage, type RootfsEntry } from '@flotilla/testkit';
import { compareManifests, ctr, ctrOk, isMounted, lines, treeManifest, unmountAll, type ManifestEntry } from './storage-support.js';

interface Side {
  name: 'containerd' | 'flotilla';
  address: string;
  root: string;
  mount: string;
  importMs?: number;
}

/** Applies the uncompressed layer tars in order onto `dest` with GNU tar, handling whiteouts by hand. */
function extractWithGnuTar(layers: string[], dest: string): void {
  mkdirSync(dest, { recursive: true });
  for (const layer of layers) {
    const names = execFileSync('tar', ['-tf', layer, '--quoting-style=literal'], { encoding: 'utf8', maxBuffer: 256 << 20 })
      .split('\n')
      .filter(Boolean);
    const entries = names.map((n) => ({ path: n.replace(/\/+$/, ''), dir: n.endsWith('/') }));
    // Whiteouts first: `.wh..wh..opq` empties its directory, `.wh.<name>` removes <name>.
    for (const e of entries) {
      const base = e.path.slice(e.path.lastIndexOf('/') + 1);
      const parent = join(dest, dirname(e.path));
      if (base === '.wh..wh..opq') {
        if (existsSync(parent)) for (const child of readdirSync(parent)) rmSync(join(parent, child), { recursive: true, force: true });
      } else if (base.startsWith('.wh.')) {
        rmSync(join(parent, base.slice(4)), { recursive: true, force: true });
      }
    }
    // A directory replacing a non-directory (or the reverse): remove the old one first.
    for (const e of entries) {
      if (e.path.slice(e.path.lastIndexOf('/') + 1).startsWith('.wh.')) continue;
      const st = lstatSync(join(dest, e.path), { throwIfNoEntry: false });
      if (st && st.isDirectory() !== e.dir) rmSync(join(dest, e.path), { recursive: true, force: true });
    }
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', layer, '-C', dest, '--exclude=.wh.*'], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

/** Differences between a tree manifest and the testkit's expected rootfs (at most `limit`). */
function diffExpected(manifest: ManifestEntry[], rootfs: Record<string, RootfsEntry>, limit = 20): string[] {
  const out: string[] = [];
  const got = new Map(manifest.map((e) => [e.path, e]));
  for (const [path, want] of Object.entries(rootfs)) {
    if (out.length >= limit) break;
    const e = got.get(path);
    if (!e) {
      out.push(`missing: ${path}`);
      continue;
    }
    got.delete(path);
    const w: Record<string, unknown> = { type: want.type, uid: want.uid, gid: want.gid };
    const g: Record<string, unknown> = { type: e.type, uid: e.uid, gid: e.gid };
    if (want.type !== 'symlink') {
      w.mode = want.mode.toString(8);
      g.mode = parseInt(e.mode!, 8).toString(8);
    }
    if (want.type === 'file') {
      w.size = want.size;
      g.size = e.size;
      w.sha256 = want.sha256;
      g.sha256 = `sha256:${e.sha256}`;
    }
    if (want.type === 'symlink') {
      w.target = want.linkname;
      g.target = e.target;
    }
    if (want.type === 'char' || want.type === 'block') {
      w.rdev = `${want.devmajor}:${want.devminor}`;
      g.rdev = e.rdev;
    }
    const sortedObject = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
    w.xattrs = sortedObject(want.xattrs ?? {});
    g.xattrs = sortedObject(Object.fromEntries(Object.entries(e.xattrs ?? {}).map(([k, v]) => [k, Buffer.from(v, 'hex').toString()])));
    if (JSON.stringify(w) !== JSON.stringify(g)) out.push(`differs: ${path}\n  expected: ${JSON.stringify(w)}\n  got:      ${JSON.stringify(g)}`);
  }
  for (const path of got.keys()) if (out.length < limit) out.push(`unexpected: ${path}`);
  return out;
}

describe('storage: the large image on Flotilla and containerd', () => {
  let image: LargeImage;
  let containerd: ContainerdDaemon | undefined;
  let flotilla: FlotillaStack | undefined;
  const tm = { treeManifest, compareManifests };
  let dir: string;
  let sides: Side[] = [];
  const manifests: Partial<Record<Side['name'], ManifestEntry[]>> = {};

  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'storage-large-'));
      [image, containerd, flotilla] = await Promise.all([buildLargeImage(), startContainerd(), startFlotilla()]);
      sides = [
        { name: 'containerd', address: containerd.address, root: join(containerd.dir, 'root'), mount: join(dir, 'mnt-containerd') },
        { name: 'flotilla', address: flotilla.address, root: flotilla.root, mount: join(dir, 'mnt-flotilla') },
      ];
      for (const s of sides) mkdirSync(s.mount);
    },
    { timeout: 600_000 },
  );

  after(
    async () => {
      for (const s of sides) unmountAll(s.mount);
      await Promise.all([containerd?.stop(), flotilla?.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 60_000 },
  );

  it('ctr images import of the OCI archive unpacks on both; import+unpack times', { timeout: 300_000 }, async (t) => {
    const refs = imageRefs(image);
    for (const s of sides) {
      const t0 = performance.now();
      const out = await ctrOk(s.address, ['images', 'import', image.ociArchive], { timeoutMs: 240_000 });
      s.importMs = performance.now() - t0;
      assert.equal(out, `unpacking ${image.name} (${refs.manifestDigest})...done\n`, s.name);
    }
    const [cd, fl] = sides.map((s) => s.importMs!);
    const msg = `import+unpack of ${image.name} (${image.layers.length} layers, ${(image.layers.reduce((n, l) => n + l.size, 0) / 2 ** 20).toFixed(0)} MiB compressed, ${Object.keys(image.rootfs).length} paths): containerd ${(cd! / 1000).toFixed(2)} s, Flotilla ${(fl! / 1000).toFixed(2)} s (${(fl! / cd!).toFixed(2)}x)`;
    t.diagnostic(msg);
    for (const s of sides) {
      assert.match(lines(await ctrOk(s.address, ['images', 'check']))[1]!, /complete \((\d+)\/\1\).*true\s*$/, s.name);
    }
    const [wantTree, gotTree] = await Promise.all(sides.map((s) => ctrOk(s.address, ['snapshots', 'tree'])));
    assert.equal(gotTree, wantTree);
    assert.ok(wantTree!.includes(refs.chainIds.at(-1)!));
    // Committed layers report the same usage on both.
    const [wantUsage, gotUsage] = await Promise.all(sides.map((s) => ctrOk(s.address, ['snapshots', 'usage'])));
    assert.equal(gotUsage, wantUsage);
  });

  it('ctr images mount: the Flotilla tree equals containerd’s (names, types, modes, owners, sizes, targets, hashes, xattrs, hardlinks)', { timeout: 300_000 }, async (t) => {
    const refs = imageRefs(image);
    for (const s of sides) {
      assert.equal(await ctrOk(s.address, ['images', 'mount', image.name, s.mount], { timeoutMs: 120_000 }), `${refs.chainIds.at(-1)}\n${s.mount}\n`, s.name);
      assert.ok(isMounted(s.mount), `${s.name}: not mounted`);
    }
    for (const s of sides) {
      const t0 = performance.now();
      manifests[s.name] = tm.treeManifest(s.mount, { mtime: 'none' });
      t.diagnostic(`${s.name}: tree manifest of ${manifests[s.name]!.length} entries in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    }
    const want = manifests.containerd!;
    const got = manifests.flotilla!;
    assert.ok(want.length > 7000, `containerd's tree has only ${want.length} entries`);
    assert.deepEqual(tm.compareManifests(want, got), [], 'containerd (first) vs Flotilla (second)');

    // Spot checks of what the image is about.
    const by = new Map(got.map((e) => [e.path, e]));
    assert.equal(by.has(LARGE_IMAGE_PATHS.deletedFile), false);
    assert.equal(by.has(LARGE_IMAGE_PATHS.deletedDir), false);
    assert.ok(by.has(LARGE_IMAGE_PATHS.keptFile));
    assert.deepEqual(got.filter((e) => e.path.startsWith(LARGE_IMAGE_PATHS.opaqueDir + '/') && !e.path.slice(LARGE_IMAGE_PATHS.opaqueDir.length + 1).includes('/')).map((e) => e.path.split('/')[1]).sort(), [...LARGE_IMAGE_PATHS.opaqueChildren].sort());
    assert.equal(by.get(LARGE_IMAGE_PATHS.fifo)?.type, 'fifo');
    assert.equal(by.get(LARGE_IMAGE_PATHS.charDevice)?.rdev, '1:3');
    assert.equal(by.get(LARGE_IMAGE_PATHS.blockDevice)?.rdev, '7:0');
    assert.equal(by.get(LARGE_IMAGE_PATHS.setuidFile)?.mode, '4755');
    assert.equal(by.get(LARGE_IMAGE_PATHS.stickyDir)?.mode, '1777');
    assert.equal(Buffer.from(by.get(LARGE_IMAGE_PATHS.xattrFile)!.xattrs!['user.flotilla.test']!, 'hex').toString(), 'hello');
    const [h0, h1] = LARGE_IMAGE_PATHS.hardlinks.map((p) => by.get(p)!);
    assert.ok(h0!.linkGroup && h0!.linkGroup === h1!.linkGroup, 'hardlinks are not one inode');
  });

  it('non-directories have the same mtimes on both (nanoseconds)', { timeout: 120_000 }, async () => {
    const opts = { mtime: 'ns' as const, dirMtime: false };
    const [want, got] = sides.map((s) => tm.treeManifest(s.mount, opts));
    assert.deepEqual(tm.compareManifests(want!, got!), []);
  });

  it('the Flotilla tree equals GNU tar’s extraction of the layers (whiteouts applied by hand)', { timeout: 300_000 }, async (t) => {
    const ref = join(dir, 'gnu-tar');
    const t0 = performance.now();
    extractWithGnuTar(image.layers.map((l) => l.tar as string), ref);
    const tarManifest = tm.treeManifest(ref, { mtime: 'none' });
    t.diagnostic(`GNU tar extraction + manifest: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    assert.deepEqual(tm.compareManifests(tarManifest, manifests.flotilla!), [], 'GNU tar (first) vs Flotilla (second)');
    rmSync(ref, { recursive: true, force: true });
  });

  it('the Flotilla tree is the rootfs the testkit expects', { timeout: 60_000 }, async () => {
    assert.deepEqual(diffExpected(manifests.flotilla!, image.rootfs), []);
  });

  it('ctr images unmount --rm: mounts, leases and views gone on both', { timeout: 120_000 }, async () => {
    for (const s of sides) {
      assert.equal(await ctrOk(s.address, ['images', 'unmount', '--rm', s.mount], { timeoutMs: 60_000 }), `${s.mount}\n`);
      assert.equal(isMounted(s.mount), false, `${s.name}: still mounted`);
      assert.equal(lines(await ctrOk(s.address, ['leases', 'ls', '-q'])).includes(s.mount), false, `${s.name}: lease left`);
      const snaps = await ctr(s.address, ['snapshots', 'info', s.mount]);
      assert.equal(snaps.code, 1, `${s.name}: view left`);
    }
    const [want, got] = await Promise.all(sides.map((s) => ctrOk(s.address, ['snapshots', 'ls'])));
    assert.equal(got, want);
  });
});
