/**
 * Storage system tests of `flotilla up` driven by Debian's real `ctr`: images (import of OCI and
 * Docker archives, ls, check, tag, rm, export into a second stack, mount/unmount), content
 * (ingest/get round trips, active ingests, labels, rm), snapshots on overlayfs and native
 * (prepare/commit/view/mounts — the mounts really mounted — tree, usage, info, label, rm),
 * containers (create/ls/info/label/rm; a container keeps its image's snapshots through
 * `images rm --sync`), leases (create/ls/rm; content held by a lease survives GC until the lease
 * is deleted with sync), checked against ctr's output and the files under the root.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  dockerImportDigest,
  startFlotilla,
  waitFor,
  type FlotillaStack,
  type ImageRefs,
  type TestImage,
} from '@flotilla/testkit';
import {
  blobFiles,
  blobPath,
  ctr,
  ctrBytes,
  ctrOk,
  flotillaFsck,
  flotillaGc,
  isMounted,
  LeasesApi,
  lines,
  runMountLine,
  snapshotDirs,
  unmountAll,
  busyboxArchives,
} from './storage-support.js';

const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const OVERLAY = 'io.containerd.snapshotter.v1.overlayfs';
const NATIVE = 'io.containerd.snapshotter.v1.native';
/** A lease the tests put content into before ingesting it, so that no GC run takes it early. */
const KEEP_LEASE = 'storage-keep';

/** The snapshot directory numbers a `ctr snapshots mounts` line names, in order of appearance. */
function dirNumbers(mountLine: string, snapshotter = OVERLAY): string[] {
  const re = new RegExp(`${snapshotter}/snapshots/(\\d+)`, 'g');
  return [...mountLine.matchAll(re)].map((m) => m[1]!);
}

describe('storage: ctr against flotilla up', () => {
  let stack: FlotillaStack | undefined;
  let second: FlotillaStack | undefined;
  let leases: LeasesApi | undefined;
  let dir: string;
  let A: string;
  let bb: TestImage;
  let bbd: TestImage;
  let refs: ImageRefs;
  let ociFile: string;
  let dockerFile: string;
  const mounts: string[] = [];

  /** A fresh mount point under the test directory (unmounted in `after` if still mounted). */
  const mountPoint = (name: string) => {
    const p = join(dir, 'mnt', name);
    mkdirSync(p, { recursive: true });
    mounts.push(p);
    return p;
  };

  /** Puts `digest` into the keep lease, then ingests `data` under `ref` with ctr. */
  const ingestKept = async (ref: string, data: Buffer) => {
    const digest = sha256(data);
    const add = await leases!.call('AddResource', { id: KEEP_LEASE, resource: { id: digest, type: 'content' } });
    assert.equal(add.code, 0, add.details);
    const r = await ctrBytes(A, ['content', 'ingest', '--expected-size', String(data.length), '--expected-digest', digest, ref], { input: data });
    assert.equal(r.code, 0, r.stderr);
    return digest;
  };

  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'storage-ctr-'));
      ({ bb, bbd, refs, ociFile, dockerFile } = await busyboxArchives(dir));
      stack = await startFlotilla();
      A = stack.address;
      leases = new LeasesApi(A);
      await ctrOk(A, ['leases', 'create', '--id', KEEP_LEASE, '--expires', '0']);
    },
    { timeout: 60_000 },
  );

  after(
    async () => {
      for (const m of mounts) unmountAll(m);
      leases?.close();
      await Promise.all([stack?.stop(), second?.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 40_000 },
  );

  it('images import: OCI and Docker archives unpack, with the expected manifest digests', { timeout: 60_000 }, async () => {
    assert.equal(await ctrOk(A, ['images', 'import', ociFile]), `unpacking ${bb.name} (${refs.manifestDigest})...done\n`);
    // In a namespace without the gzip blob, the Docker manifest references the layer.tar as is…
    const alone = dockerImportDigest(bbd);
    assert.equal(await ctrOk(A, ['images', 'import', dockerFile], { namespace: 'dk' }), `unpacking ${bbd.name} (${alone})...done\n`);
    // …and where the OCI import left a gzip blob labelled with that diff ID, ctr reuses it.
    const reused = dockerImportDigest(bbd, { compressedLayers: true });
    assert.equal(await ctrOk(A, ['images', 'import', dockerFile]), `unpacking ${bbd.name} (${reused})...done\n`);

    assert.deepEqual(lines(await ctrOk(A, ['images', 'ls', '-q'])), [bbd.name, bb.name]);
    const ls = lines(await ctrOk(A, ['images', 'ls']));
    assert.match(ls[0]!, /^REF\s+TYPE\s+DIGEST\s+SIZE\s+PLATFORMS\s+LABELS\s*$/);
    assert.match(ls[1]!, new RegExp(`^${bbd.name}\\s+application/vnd\\.docker\\.distribution\\.manifest\\.v2\\+json\\s+${reused}\\s+1\\.0 MiB\\s+linux/amd64\\s+-\\s*$`));
    assert.match(ls[2]!, new RegExp(`^${bb.name}\\s+application/vnd\\.oci\\.image\\.manifest\\.v1\\+json\\s+${refs.manifestDigest}\\s+1\\.0 MiB\\s+linux/amd64\\s+-\\s*$`));

    // On disk: the blobs and the unpacked layer.
    for (const d of [refs.manifestDigest, refs.configDigest, ...refs.layerDigests, reused, alone, ...refs.diffIds]) {
      assert.ok(existsSync(blobPath(stack!.root, d)), `no blob file for ${d}`);
    }
    const snaps = lines(await ctrOk(A, ['snapshots', 'ls']));
    assert.ok(snaps.some((l) => new RegExp(`^${refs.chainIds[0]}\\s+Committed\\s*$`).test(l)), snaps.join('\n'));
    assert.ok(readFileSync(join(stack!.root, OVERLAY, 'snapshots', snapshotDirs(stack!.root)[0]!, 'fs', 'bin', 'busybox')).equals(readFileSync('/bin/busybox')));

    // The content of a namespace is that namespace's: dk's Docker manifest is not in default's list.
    assert.equal(lines(await ctrOk(A, ['content', 'ls', '-q'])).includes(alone), false);
    assert.ok(lines(await ctrOk(A, ['content', 'ls', '-q'], { namespace: 'dk' })).includes(alone));
    assert.equal(await ctrOk(A, ['images', 'rm', '--sync', bbd.name], { namespace: 'dk' }), `${bbd.name}\n`);
    assert.equal(existsSync(blobPath(stack!.root, alone)), false, 'dk Docker manifest blob left after images rm --sync');
  });

  it('images check: both images complete and unpacked', { timeout: 30_000 }, async () => {
    const out = lines(await ctrOk(A, ['images', 'check']));
    assert.match(out[0]!, /^REF\s+TYPE\s+DIGEST\s+STATUS\s+SIZE\s+UNPACKED\s*$/);
    assert.equal(out.length, 3, out.join('\n'));
    for (const name of [bb.name, bbd.name]) {
      const row = out.find((l) => l.startsWith(name + ' '));
      assert.ok(row, `no row for ${name}`);
      assert.match(row, /\scomplete \(2\/2\)\s+1\.0 MiB\/1\.0 MiB\s+true\s*$/);
    }
  });

  it('images tag, then rm of the tag keeps the original', { timeout: 30_000 }, async () => {
    const v2 = 'flotilla.test/busybox:v2';
    assert.equal(await ctrOk(A, ['images', 'tag', bb.name, v2]), `${v2}\n`);
    const dup = await ctr(A, ['images', 'tag', bb.name, v2]);
    assert.equal(dup.code, 1);
    assert.equal(dup.stderr, `ctr: image "${v2}": already exists\n`);
    const ls = lines(await ctrOk(A, ['images', 'ls']));
    assert.match(ls.find((l) => l.startsWith(v2 + ' '))!, new RegExp(`\\s${refs.manifestDigest}\\s`));
    assert.deepEqual(lines(await ctrOk(A, ['images', 'ls', '-q'])), [bbd.name, bb.name, v2]);

    assert.equal(await ctrOk(A, ['images', 'rm', '--sync', v2]), `${v2}\n`);
    assert.deepEqual(lines(await ctrOk(A, ['images', 'ls', '-q'])), [bbd.name, bb.name]);
    assert.match(lines(await ctrOk(A, ['images', 'check'])).find((l) => l.startsWith(bb.name + ' '))!, /complete \(2\/2\).*true\s*$/);
    for (const d of [refs.manifestDigest, refs.configDigest, ...refs.layerDigests]) assert.ok(existsSync(blobPath(stack!.root, d)), `blob ${d} gone after rm of the tag`);
  });

  it('images export, then import into a second fresh stack: same manifest digest and blobs', { timeout: 90_000 }, async () => {
    const out = join(dir, 'export.tar');
    await ctrOk(A, ['images', 'export', out, bb.name]);
    const listing = await new Promise<string>((resolve, reject) => {
      const t = spawn('tar', ['-tf', out]);
      let s = '';
      t.stdout.on('data', (d) => (s += d));
      t.once('error', reject);
      t.once('close', () => resolve(s));
    });
    for (const d of [refs.manifestDigest, refs.configDigest, ...refs.layerDigests]) assert.ok(listing.includes(`blobs/sha256/${d.slice(7)}`), listing);
    assert.ok(listing.includes('index.json'));

    second = await startFlotilla();
    try {
      assert.equal(await ctrOk(second.address, ['images', 'import', out]), `unpacking ${bb.name} (${refs.manifestDigest})...done\n`);
      const ls = lines(await ctrOk(second.address, ['images', 'ls']));
      assert.equal(ls.length, 2);
      assert.match(ls[1]!, new RegExp(`^${bb.name}\\s+\\S+\\s+${refs.manifestDigest}\\s`));
      assert.deepEqual(lines(await ctrOk(second.address, ['content', 'ls', '-q'])), [refs.manifestDigest, refs.configDigest, ...refs.layerDigests].sort());
      assert.match(lines(await ctrOk(second.address, ['images', 'check']))[1]!, /complete \(2\/2\).*true\s*$/);
    } finally {
      await second.stop();
      second = undefined;
    }
  });

  it('images mount shows /bin/busybox; unmount --rm removes the mount, its lease and its snapshot', { timeout: 60_000 }, async () => {
    const target = mountPoint('image');
    const out = await ctrOk(A, ['images', 'mount', bb.name, target]);
    assert.equal(out, `${refs.chainIds[0]}\n${target}\n`);
    assert.ok(isMounted(target), `${target} is not a mount point`);
    assert.ok(readFileSync(join(target, 'bin', 'busybox')).equals(readFileSync('/bin/busybox')));
    assert.ok(readFileSync(join(target, 'etc', 'passwd'), 'utf8').startsWith('root:x:0:0:'));
    assert.ok(lines(await ctrOk(A, ['leases', 'ls'])).some((l) => l.startsWith(target + ' ')), 'no lease named after the target');
    assert.ok(lines(await ctrOk(A, ['snapshots', 'ls'])).some((l) => new RegExp(`^${target}\\s+${refs.chainIds[0]}\\s+View\\s*$`).test(l)));

    assert.equal(await ctrOk(A, ['images', 'unmount', '--rm', target]), `${target}\n`);
    assert.equal(isMounted(target), false, `${target} still mounted`);
    assert.equal(lines(await ctrOk(A, ['leases', 'ls'])).some((l) => l.startsWith(target + ' ')), false, 'lease left');
    assert.equal(lines(await ctrOk(A, ['snapshots', 'ls'])).some((l) => l.startsWith(target)), false, 'view snapshot left');
  });

  it('content ingest and get round trip 1 MiB and 20 MiB of random bytes', { timeout: 60_000 }, async () => {
    for (const size of [1 << 20, 20 << 20]) {
      const data = randomBytes(size);
      const digest = await ingestKept(`roundtrip-${size}`, data);
      const got = await ctrBytes(A, ['content', 'get', digest]);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.stdout.length, size);
      assert.ok(got.stdout.equals(data), `content get of ${size} bytes returned other bytes`);
      assert.ok(readFileSync(blobPath(stack!.root, digest)).equals(data), 'blob file differs');
      const row = lines(await ctrOk(A, ['content', 'ls'])).find((l) => l.startsWith(digest));
      assert.ok(row, `${digest} not in content ls`);
      assert.equal(row.split('\t')[1], size === 1 << 20 ? '1.049MB' : '20.97MB');
    }
    // A digest that does not match the data is refused and leaves nothing.
    const data = randomBytes(4096);
    const wrong = sha256('something else');
    const r = await ctrBytes(A, ['content', 'ingest', '--expected-digest', wrong, 'wrong-digest'], { input: data });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unexpected commit digest .*: failed precondition/);
    assert.equal(existsSync(blobPath(stack!.root, sha256(data))), false);
    assert.equal(existsSync(blobPath(stack!.root, wrong)), false);
    // As on containerd, the failed commit leaves the ingest active (with all its bytes).
    assert.deepEqual(lines(await ctrOk(A, ['content', 'active'])).slice(1).map((l) => l.split('\t').slice(0, 2)), [['wrong-digest', '4.096kB']]);
  });

  it('content active shows an ingest in progress until its writer closes stdin', { timeout: 60_000 }, async () => {
    const data = randomBytes(3 << 20);
    const digest = sha256(data);
    const add = await leases!.call('AddResource', { id: KEEP_LEASE, resource: { id: digest, type: 'content' } });
    assert.equal(add.code, 0, add.details);
    const child = spawn('ctr', ['-a', A, 'content', 'ingest', '--expected-size', String(data.length), 'active-ingest'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    try {
      child.stdin.write(data.subarray(0, 1 << 20));
      const row = await waitFor('content active to list the ingest', 15_000, async () => {
        const out = lines(await ctrOk(A, ['content', 'active']));
        return out.length > 1 && out.find((l) => l.startsWith('active-ingest\t'));
      });
      assert.match(row, /^active-ingest\t\d+(\.\d+)?[kMG]?B\t(Less than a second|\d+ seconds?)\t*$/);
      // The argument is a filter (ctr's help calls it a regexp; containerd parses it as a filter).
      assert.match(lines(await ctrOk(A, ['content', 'active', 'ref==active-ingest'])).join('\n'), /\nactive-ingest\t/);
      assert.equal(lines(await ctrOk(A, ['content', 'active', 'ref==nomatch'])).length, 1);
      child.stdin.end(data.subarray(1 << 20));
      assert.equal(await exited, 0, stderr);
    } finally {
      child.kill('SIGKILL');
    }
    assert.equal(lines(await ctrOk(A, ['content', 'active'])).some((l) => l.startsWith('active-ingest\t')), false, 'the finished ingest is still active');
    const got = await ctrBytes(A, ['content', 'get', digest]);
    assert.ok(got.stdout.equals(data), 'the blob of the finished ingest differs');
  });

  it('content label adds and removes labels; content rm deletes the blob', { timeout: 30_000 }, async () => {
    const data = randomBytes(10_000);
    const digest = await ingestKept('labelled', data);
    const set = await ctrOk(A, ['content', 'label', digest, 'a=b', 'c=d']);
    assert.deepEqual(set.trim().split(',').sort(), ['a=b', 'c=d']);
    let row = lines(await ctrOk(A, ['content', 'ls'])).find((l) => l.startsWith(digest))!;
    assert.deepEqual(row.split('\t').at(-1)!.split(',').sort(), ['a=b', 'c=d']);
    assert.equal((await ctrOk(A, ['content', 'label', digest, 'c='])).trim(), 'a=b');
    row = lines(await ctrOk(A, ['content', 'ls'])).find((l) => l.startsWith(digest))!;
    assert.equal(row.split('\t').at(-1), 'a=b');
    // Filters on labels.
    assert.deepEqual(lines(await ctrOk(A, ['content', 'ls', '-q', 'labels.a==b'])), [digest]);
    assert.deepEqual(lines(await ctrOk(A, ['content', 'ls', '-q', 'labels.c==d'])), []);

    assert.equal(await ctrOk(A, ['content', 'rm', digest]), `${digest}\n`);
    assert.equal(lines(await ctrOk(A, ['content', 'ls', '-q'])).includes(digest), false);
    const get = await ctr(A, ['content', 'get', digest]);
    assert.equal(get.code, 1);
    assert.equal(get.stderr, `ctr: content digest ${digest}: not found\n`);
    await flotillaGc(stack!.state);
    assert.equal(existsSync(blobPath(stack!.root, digest)), false, 'blob file left after content rm and GC');
  });

  it('snapshots on overlayfs: prepare, mounts (mounted), commit, child sees the parent, view, tree, usage, info, label, rm', { timeout: 60_000 }, async () => {
    const root = stack!.root;
    // A base layer with one file.
    assert.equal(await ctrOk(A, ['snapshots', 'prepare', 's-base']), '');
    const mBase = mountPoint('s-base');
    const baseLine = await ctrOk(A, ['snapshots', 'mounts', mBase, 's-base']);
    const [nBase] = dirNumbers(baseLine);
    assert.equal(baseLine, `mount -t bind ${root}/${OVERLAY}/snapshots/${nBase}/fs ${mBase} -o rw,rbind\n`);
    runMountLine(baseLine.trim());
    writeFileSync(join(mBase, 'base.txt'), 'from the base\n');
    unmountAll(mBase);
    assert.equal(readFileSync(join(root, OVERLAY, 'snapshots', nBase!, 'fs', 'base.txt'), 'utf8'), 'from the base\n');
    assert.equal(await ctrOk(A, ['snapshots', 'commit', 's-base-c', 's-base']), '');

    // A child on it: an overlay whose lower is the base.
    await ctrOk(A, ['snapshots', 'prepare', 's-child', 's-base-c']);
    const mChild = mountPoint('s-child');
    const childLine = await ctrOk(A, ['snapshots', 'mounts', mChild, 's-child']);
    const [nWork, nUpper, nLower] = dirNumbers(childLine);
    assert.equal(nLower, nBase);
    assert.equal(nWork, nUpper);
    assert.equal(
      childLine,
      `mount -t overlay overlay ${mChild} -o index=off,workdir=${root}/${OVERLAY}/snapshots/${nUpper}/work,upperdir=${root}/${OVERLAY}/snapshots/${nUpper}/fs,lowerdir=${root}/${OVERLAY}/snapshots/${nBase}/fs\n`,
    );
    runMountLine(childLine.trim());
    assert.equal(readFileSync(join(mChild, 'base.txt'), 'utf8'), 'from the base\n');
    writeFileSync(join(mChild, 'child.txt'), 'from the child\n');
    unmountAll(mChild);
    assert.equal(existsSync(join(root, OVERLAY, 'snapshots', nUpper!, 'fs', 'base.txt')), false, 'the child copied the parent');
    await ctrOk(A, ['snapshots', 'commit', 's-child-c', 's-child']);

    // A read-only view of the child (labelled gc.root, as views get none from ctr).
    await ctrOk(A, ['snapshots', 'view', 's-view', 's-child-c']);
    await ctrOk(A, ['snapshots', 'label', 's-view', 'containerd.io/gc.root=storage-test']);
    const mView = mountPoint('s-view');
    const viewLine = await ctrOk(A, ['snapshots', 'mounts', mView, 's-view']);
    assert.equal(viewLine, `mount -t overlay overlay ${mView} -o index=off,lowerdir=${root}/${OVERLAY}/snapshots/${nUpper}/fs:${root}/${OVERLAY}/snapshots/${nBase}/fs\n`);
    runMountLine(viewLine.trim());
    assert.equal(readFileSync(join(mView, 'base.txt'), 'utf8'), 'from the base\n');
    assert.equal(readFileSync(join(mView, 'child.txt'), 'utf8'), 'from the child\n');
    assert.throws(() => writeFileSync(join(mView, 'nope.txt'), 'x'), /EROFS|read-only/i);
    unmountAll(mView);

    // A snapshot on the image's layer shows the image's files.
    await ctrOk(A, ['snapshots', 'prepare', 's-img', refs.chainIds[0]!]);
    const mImg = mountPoint('s-img');
    runMountLine((await ctrOk(A, ['snapshots', 'mounts', mImg, 's-img'])).trim());
    assert.ok(readFileSync(join(mImg, 'bin', 'busybox')).equals(readFileSync('/bin/busybox')));
    unmountAll(mImg);

    const tree = await ctrOk(A, ['snapshots', 'tree']);
    assert.ok(tree.includes(' s-base-c\n  \\_ s-child-c\n    \\_ s-view\n'), tree);
    assert.ok(tree.includes(` ${refs.chainIds[0]}\n  \\_ s-img\n`), tree);
    const ls = lines(await ctrOk(A, ['snapshots', 'ls']));
    assert.match(ls.find((l) => l.startsWith('s-child-c '))!, /^s-child-c\s+s-base-c\s+Committed\s*$/);
    assert.match(ls.find((l) => l.startsWith('s-view '))!, /^s-view\s+s-child-c\s+View\s*$/);
    assert.match(ls.find((l) => l.startsWith('s-img '))!, new RegExp(`^s-img\\s+${refs.chainIds[0]}\\s+Active\\s*$`));

    const usage = lines(await ctrOk(A, ['snapshots', 'usage', 's-child-c']));
    assert.match(usage[0]!, /^KEY\s+SIZE\s+INODES\s*$/);
    assert.match(usage[1]!, /^s-child-c\s+8\.0 KiB\s+2\s*$/);
    assert.match(lines(await ctrOk(A, ['snapshots', 'usage', refs.chainIds[0]!]))[1]!, /\s1\.9 MiB\s+\d{3}\s*$/);

    const info = JSON.parse(await ctrOk(A, ['snapshots', 'info', 's-child-c']));
    assert.equal(info.Kind, 'Committed');
    assert.equal(info.Name, 's-child-c');
    assert.equal(info.Parent, 's-base-c');
    assert.match(info.Labels['containerd.io/gc.root'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Date.parse(info.Created) > 0 && info.Updated === info.Created, JSON.stringify(info));

    const labelled = (await ctrOk(A, ['snapshots', 'label', 's-child-c', 'a=b'])).trim().split(',').sort();
    assert.deepEqual(labelled.map((l) => l.split('=')[0]), ['a', 'containerd.io/gc.root']);
    assert.equal(JSON.parse(await ctrOk(A, ['snapshots', 'info', 's-child-c'])).Labels.a, 'b');
    await ctrOk(A, ['snapshots', 'label', 's-child-c', 'a=']);
    assert.equal(JSON.parse(await ctrOk(A, ['snapshots', 'info', 's-child-c'])).Labels.a, undefined);

    const busy = await ctr(A, ['snapshots', 'rm', 's-base-c']);
    assert.equal(busy.code, 1);
    assert.equal(busy.stderr, 'ctr: failed to remove "s-base-c": cannot remove snapshot with child: failed precondition\n');
    const missing = await ctr(A, ['snapshots', 'rm', 's-nope']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'ctr: failed to remove "s-nope": snapshot s-nope does not exist: not found\n');

    assert.equal(await ctrOk(A, ['snapshots', 'rm', 's-view', 's-child-c', 's-base-c', 's-img']), '');
    assert.equal(lines(await ctrOk(A, ['snapshots', 'ls'])).some((l) => l.startsWith('s-')), false);
    await flotillaGc(stack!.state);
    for (const n of [nBase!, nUpper!]) assert.equal(existsSync(join(root, OVERLAY, 'snapshots', n)), false, `snapshot dir ${n} left after rm and GC`);
  });

  it('snapshots --snapshotter native: prepare, mounts (mounted), commit, copy for the child, view, tree, rm', { timeout: 60_000 }, async () => {
    const root = stack!.root;
    const n = (args: string[]) => ctrOk(A, ['snapshots', '--snapshotter', 'native', ...args]);
    await n(['prepare', 'n-base']);
    const mBase = mountPoint('n-base');
    const baseLine = await n(['mounts', mBase, 'n-base']);
    const [kBase] = dirNumbers(baseLine, NATIVE);
    assert.match(baseLine, new RegExp(`^mount -t bind ${root}/${NATIVE}/snapshots/${kBase} ${mBase} -o (rw,rbind|rbind,rw)\\n$`));
    runMountLine(baseLine.trim());
    writeFileSync(join(mBase, 'base.txt'), 'native base\n');
    unmountAll(mBase);
    await n(['commit', 'n-base-c', 'n-base']);

    await n(['prepare', 'n-child', 'n-base-c']);
    const mChild = mountPoint('n-child');
    const childLine = await n(['mounts', mChild, 'n-child']);
    const [kChild] = dirNumbers(childLine, NATIVE);
    assert.notEqual(kChild, kBase);
    runMountLine(childLine.trim());
    assert.equal(readFileSync(join(mChild, 'base.txt'), 'utf8'), 'native base\n');
    writeFileSync(join(mChild, 'child.txt'), 'native child\n');
    unmountAll(mChild);
    // The child is a full copy: its directory has both files, the base only its own.
    assert.equal(readFileSync(join(root, NATIVE, 'snapshots', kChild!, 'base.txt'), 'utf8'), 'native base\n');
    assert.equal(existsSync(join(root, NATIVE, 'snapshots', kBase!, 'child.txt')), false);
    await n(['commit', 'n-child-c', 'n-child']);

    await n(['view', 'n-view', 'n-child-c']);
    await n(['label', 'n-view', 'containerd.io/gc.root=storage-test']);
    const mView = mountPoint('n-view');
    const viewLine = await n(['mounts', mView, 'n-view']);
    assert.match(viewLine, new RegExp(`^mount -t bind ${root}/${NATIVE}/snapshots/${kChild} ${mView} -o (ro,rbind|rbind,ro)\\n$`));
    runMountLine(viewLine.trim());
    assert.equal(readFileSync(join(mView, 'child.txt'), 'utf8'), 'native child\n');
    assert.throws(() => writeFileSync(join(mView, 'nope.txt'), 'x'), /EROFS|read-only/i);
    unmountAll(mView);

    assert.equal(await n(['tree']), ' n-base-c\n  \\_ n-child-c\n    \\_ n-view\n');
    assert.deepEqual(lines(await n(['ls'])).slice(1).map((l) => l.trim().split(/\s+/)), [
      ['n-base-c', 'Committed'],
      ['n-child-c', 'n-base-c', 'Committed'],
      ['n-view', 'n-child-c', 'View'],
    ]);
    assert.equal(JSON.parse(await n(['info', 'n-child-c'])).Parent, 'n-base-c');
    assert.match(lines(await n(['usage', 'n-child-c']))[1]!, /^n-child-c\s+12\.0 KiB\s+3\s*$/);
    // The overlayfs snapshotter knows none of them.
    assert.equal(lines(await ctrOk(A, ['snapshots', 'ls'])).some((l) => l.startsWith('n-')), false);

    const busy = await ctr(A, ['snapshots', '--snapshotter', 'native', 'rm', 'n-child-c']);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /cannot remove snapshot with child: failed precondition/);
    await n(['rm', 'n-view', 'n-child-c', 'n-base-c']);
    assert.deepEqual(lines(await n(['ls'])).slice(1), []);
    await flotillaGc(stack!.state);
    assert.deepEqual(snapshotDirs(root, 'native'), [], 'native snapshot dirs left after rm and GC');
  });

  it('containers create from the image, ls, info, label, rm', { timeout: 30_000 }, async () => {
    assert.equal(await ctrOk(A, ['containers', 'create', '--label', 'a=b', bb.name, 'c1']), '');
    const ls = lines(await ctrOk(A, ['containers', 'ls']));
    assert.match(ls[0]!, /^CONTAINER\s+IMAGE\s+RUNTIME\s*$/);
    assert.match(ls[1]!, new RegExp(`^c1\\s+${bb.name}\\s+io\\.containerd\\.runc\\.v2\\s*$`));
    assert.deepEqual(lines(await ctrOk(A, ['containers', 'ls', '-q'])), ['c1']);

    const info = JSON.parse(await ctrOk(A, ['containers', 'info', 'c1']));
    assert.equal(info.ID, 'c1');
    assert.equal(info.Image, bb.name);
    assert.equal(info.SnapshotKey, 'c1');
    assert.equal(info.Snapshotter, 'overlayfs');
    assert.equal(info.Runtime.Name, 'io.containerd.runc.v2');
    assert.deepEqual(info.Labels, { a: 'b', 'io.containerd.image.config.stop-signal': 'SIGTERM' });
    assert.deepEqual(info.Spec.process.args, ['/bin/sh']);
    assert.deepEqual(info.Spec.process.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    assert.equal(info.Spec.root.path, 'rootfs');
    // Its snapshot is an active child of the image's layer.
    const snap = JSON.parse(await ctrOk(A, ['snapshots', 'info', 'c1']));
    assert.equal(snap.Kind, 'Active');
    assert.equal(snap.Parent, refs.chainIds[0]);

    assert.deepEqual((await ctrOk(A, ['containers', 'label', 'c1', 'x=y'])).trim().split(',').sort(), ['a=b', 'io.containerd.image.config.stop-signal=SIGTERM', 'x=y']);
    assert.equal(JSON.parse(await ctrOk(A, ['containers', 'info', 'c1'])).Labels.x, 'y');
    const dup = await ctr(A, ['containers', 'create', bb.name, 'c1']);
    assert.equal(dup.code, 1);
    assert.equal(dup.stderr, 'ctr: snapshot "c1": already exists\n');

    assert.equal(await ctrOk(A, ['containers', 'rm', 'c1']), '');
    assert.deepEqual(lines(await ctrOk(A, ['containers', 'ls', '-q'])), []);
    assert.equal(lines(await ctrOk(A, ['snapshots', 'ls'])).some((l) => l.startsWith('c1 ')), false, 'ctr containers rm leaves the snapshot');
    const gone = await ctr(A, ['containers', 'rm', 'c1']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /ctr: container "c1" in namespace "default": not found\n$/);
  });

  it("a container keeps its image's layers through images rm --sync; container rm + GC removes them", { timeout: 60_000 }, async () => {
    const root = stack!.root;
    await ctrOk(A, ['containers', 'create', bb.name, 'c-hold']);
    const line = await ctrOk(A, ['snapshots', 'mounts', '/mnt', 'c-hold']);
    const [, upper, lower] = dirNumbers(line);
    assert.ok(upper && lower, line);
    // Both images share the layer: remove both.
    assert.equal(await ctrOk(A, ['images', 'rm', '--sync', bb.name, bbd.name]), `${bb.name}\n${bbd.name}\n`);
    assert.deepEqual(lines(await ctrOk(A, ['images', 'ls', '-q'])), []);
    for (const d of [refs.manifestDigest, refs.configDigest, ...refs.layerDigests]) assert.equal(existsSync(blobPath(root, d)), false, `blob ${d} left after images rm --sync`);
    const ls = lines(await ctrOk(A, ['snapshots', 'ls']));
    assert.ok(ls.some((l) => new RegExp(`^${refs.chainIds[0]}\\s+Committed`).test(l)), `the container's parent snapshot was collected:\n${ls.join('\n')}`);
    for (const n of [upper, lower]) assert.ok(existsSync(join(root, OVERLAY, 'snapshots', n, 'fs')), `snapshot dir ${n} removed while the container holds it`);
    assert.ok(existsSync(join(root, OVERLAY, 'snapshots', lower, 'fs', 'bin', 'busybox')));

    await ctrOk(A, ['containers', 'rm', 'c-hold']);
    await flotillaGc(stack!.state);
    assert.deepEqual(lines(await ctrOk(A, ['snapshots', 'ls'])).slice(1), []);
    for (const n of [upper, lower]) assert.equal(existsSync(join(root, OVERLAY, 'snapshots', n)), false, `snapshot dir ${n} left after container rm and GC`);
    assert.deepEqual(snapshotDirs(root), []);
  });

  it('leases create, ls, rm; content held by a lease survives GC until the lease is deleted with sync', { timeout: 60_000 }, async () => {
    assert.equal(await ctrOk(A, ['leases', 'create', '--id', 'lease-a', 'k=v']), 'lease-a\n');
    const row = lines(await ctrOk(A, ['leases', 'ls'])).find((l) => l.startsWith('lease-a '));
    assert.ok(row);
    const m = /^lease-a\s+(\S+)\s+(\S+)\s*$/.exec(row)!;
    assert.ok(m, row);
    assert.match(m[1]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const labels = Object.fromEntries(m[2]!.split(',').map((kv) => kv.split('=') as [string, string]));
    assert.equal(labels.k, 'v');
    // The default expiry is 24 h.
    const expires = Date.parse(labels['containerd.io/gc.expire']!) - Date.parse(m[1]!);
    assert.ok(Math.abs(expires - 24 * 3600_000) <= 2000, `gc.expire ${labels['containerd.io/gc.expire']} vs created ${m[1]}`);
    const dup = await ctr(A, ['leases', 'create', '--id', 'lease-a']);
    assert.equal(dup.code, 1);
    assert.equal(dup.stderr, 'ctr: lease "lease-a": already exists\n');
    // Without --id the server picks one, as containerd's lease service does.
    const random = await ctr(A, ['leases', 'create']);
    assert.equal(random.code, 0, random.stderr);
    assert.match(random.stdout, /^\d+-[A-Za-z0-9_-]{4}\n$/);
    assert.equal(await ctrOk(A, ['leases', 'rm', 'lease-a', random.stdout.trim()]), `lease-a\n${random.stdout}`);
    const missing = await ctr(A, ['leases', 'rm', 'lease-a']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'ctr: lease "lease-a": not found\n');

    // A lease holding content.
    await ctrOk(A, ['leases', 'create', '--id', 'hold']);
    const data = randomBytes(64 * 1024);
    const digest = sha256(data);
    const add = await leases!.call('AddResource', { id: 'hold', resource: { id: digest, type: 'content' } });
    assert.equal(add.code, 0, add.details);
    const r = await ctrBytes(A, ['content', 'ingest', '--expected-digest', digest, 'held'], { input: data });
    assert.equal(r.code, 0, r.stderr);
    const res = await leases!.call<{ resources: { id: string; type: string }[] }>('ListResources', { id: 'hold' });
    assert.equal(res.code, 0, res.details);
    assert.deepEqual(res.value!.resources, [{ id: digest, type: 'content' }]);

    await flotillaGc(stack!.state);
    assert.ok(existsSync(blobPath(stack!.root, digest)), 'leased blob collected');
    assert.ok(lines(await ctrOk(A, ['content', 'ls', '-q'])).includes(digest));

    const del = await leases!.call('Delete', { id: 'hold', sync: true });
    assert.equal(del.code, 0, del.details);
    assert.equal(existsSync(blobPath(stack!.root, digest)), false, 'blob file left after Leases.Delete{sync}');
    assert.equal(lines(await ctrOk(A, ['content', 'ls', '-q'])).includes(digest), false);
    assert.equal(lines(await ctrOk(A, ['leases', 'ls', '-q'])).includes('hold'), false);
  });

  it('after all that: the keep lease still holds its blobs, and deleting it with sync leaves an empty, consistent store', { timeout: 60_000 }, async () => {
    const held = await leases!.call<{ resources: { id: string; type: string }[] }>('ListResources', { id: KEEP_LEASE });
    assert.equal(held.code, 0, held.details);
    const digests = held.value!.resources.map((r) => r.id).sort();
    assert.equal(digests.length, 4, JSON.stringify(held.value));
    // The labelled one was removed with content rm; the other three are still there.
    const present = digests.filter((d) => existsSync(blobPath(stack!.root, d)));
    assert.equal(present.length, 3, `present: ${present.join(' ')}`);
    assert.equal(await ctrOk(A, ['leases', 'rm', '--sync', KEEP_LEASE]), `${KEEP_LEASE}\n`);
    assert.deepEqual(blobFiles(stack!.root), []);
    assert.deepEqual(lines(await ctrOk(A, ['content', 'ls', '-q'])), []);
    const fsck = await flotillaFsck(stack!.state);
    assert.equal(fsck.code, 0);
    assert.deepEqual([fsck.problems, fsck.orphanBlobs, fsck.orphanSnapshots], [[], [], []]);
  });
});
