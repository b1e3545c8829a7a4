/**
 * Image import + unpack throughput: `ctr -a <socket> images import <oci.tar>` of the large test
 * image of @flotilla/testkit (5 gzip layers, ~300 MiB uncompressed, thousands of small files plus a
 * few large ones and every special entry), end to end: the ctr process reads the archive, writes
 * the blobs through Content.Write, creates the image and unpacks every layer into overlayfs
 * snapshots (Diff.Apply). MB/s = sum of the UNCOMPRESSED layer (tar) sizes in 10^6 bytes / wall
 * seconds of the ctr run. After every round the image is removed with `ctr images rm --sync` and
 * the content store and snapshotter must be empty again (metadata and disk).
 */
import { performance } from 'node:perf_hooks';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildLargeImage, ctr, type LargeImage } from '@flotilla/testkit';
import { sleep } from '../load.js';
import { simple, type Target } from '../types.js';
import { SNAPSHOTTER, removeSnapshots, snapshotDirs } from './snapshots.js';
import { flushDisk } from './util.js';

/** Deadline of one import (a slow daemon fails the benchmark instead of hanging it). */
const IMPORT_TIMEOUT_MS = 10 * 60_000;
/** How long to wait after `rm --sync` for content and snapshots to be gone before noting leftovers. */
const CLEAN_WAIT_MS = 15_000;

const images = new Map<boolean, Promise<LargeImage>>();
/**
 * The large image (built once, cached under /var/tmp by the testkit; the first build takes a
 * while). --quick uses a 3-layer, ~16 MiB variant of it (same generator, its own cache entry).
 */
function largeImage(quick: boolean): Promise<LargeImage> {
  let p = images.get(quick);
  if (!p) {
    p = quick ? buildLargeImage(undefined, { layers: 3, totalBytes: 16 << 20, name: 'flotilla.test/large-quick:latest' }) : buildLargeImage();
    images.set(quick, p);
  }
  return p;
}

const uncompressedBytes = (img: LargeImage) => img.layers.reduce((a, l) => a + l.tarSize, 0);

/** Blob files in the content store on disk. */
function blobFiles(t: Target): number {
  const dir = join(t.root, 'io.containerd.content.v1.content', 'blobs', 'sha256');
  return existsSync(dir) ? readdirSync(dir).length : 0;
}

/** What is left of images, content and snapshots: metadata through the API, files on disk. */
async function leftovers(t: Target): Promise<{ images: string[]; content: string[]; snapshots: string[]; blobFiles: number; snapshotDirs: number }> {
  const images = (await ctr(t.address, ['images', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
  const content = (await t.clients.listContent()).map((i) => i.digest);
  const snapshots = (await t.clients.listSnapshots(SNAPSHOTTER)).map((i) => i.name);
  return { images, content, snapshots, blobFiles: blobFiles(t), snapshotDirs: snapshotDirs(t) };
}
const isClean = (l: Awaited<ReturnType<typeof leftovers>>) =>
  l.images.length + l.content.length + l.snapshots.length + l.blobFiles + l.snapshotDirs === 0;

/**
 * Removes the image with `ctr images rm --sync` and waits until content and snapshots are gone
 * (API and disk). If something stays, notes it and removes it by hand (content rm, snapshots
 * children first), so that the next round starts from an empty store either way.
 */
async function removeImage(t: Target, img: LargeImage, note: (text: string) => void): Promise<void> {
  const rm = await ctr(t.address, ['images', 'rm', '--sync', img.name], { timeoutMs: 120_000 });
  if (rm.code !== 0 && !/not found/i.test(rm.stderr)) throw new Error(`${t.side}: ctr images rm --sync exited ${rm.code}: ${rm.stderr}`);
  const until = Date.now() + CLEAN_WAIT_MS;
  let left = await leftovers(t);
  while (!isClean(left) && Date.now() < until) {
    await sleep(100);
    left = await leftovers(t);
  }
  if (isClean(left)) return;
  note(
    `after ctr images rm --sync and ${CLEAN_WAIT_MS / 1000} s: ${left.images.length} image(s), ${left.content.length} content record(s), ` +
      `${left.snapshots.length} snapshot(s), ${left.blobFiles} blob file(s), ${left.snapshotDirs} snapshot dir(s) left; removing them by hand`,
  );
  for (const name of left.images) await ctr(t.address, ['images', 'rm', '--sync', name]);
  for (const d of left.content) await t.clients.deleteContent(d).catch(() => undefined);
  await removeSnapshots(t, await t.clients.listSnapshots(SNAPSHOTTER));
  // Content.Delete / Snapshots.Remove leave the files to the GC: a synchronous lease delete runs it.
  await ctr(t.address, ['leases', 'create', '--id', 'bench-gc']);
  await ctr(t.address, ['leases', 'rm', '--sync', 'bench-gc']);
}

export default simple({
  name: 'images.import',
  description:
    'ctr images import (with unpack into overlayfs) of the testkit large image (5 gzip layers, 322 MB uncompressed; --quick: 3 layers, 19.6 MB), end to end; ' +
    'MB/s = uncompressed layer bytes (10^6) / wall seconds of the ctr run. ctr images rm --sync after each round; content and snapshots must be empty before the next.',
  unit: 'MB/s',
  better: 'higher',
  async setup(t, { quick }) {
    await largeImage(quick); // untimed: built once, then reused from the /var/tmp cache
    const left = await leftovers(t);
    if (!isClean(left)) throw new Error(`${t.side}: not empty before images.import: ${JSON.stringify(left).slice(0, 500)}`);
  },
  async run(t, { quick, measure, note }) {
    const img = await largeImage(quick);
    flushDisk();
    try {
      const t0 = performance.now();
      const r = await measure('ctr images import', () => ctr(t.address, ['images', 'import', img.ociArchive], { timeoutMs: IMPORT_TIMEOUT_MS }));
      const seconds = (performance.now() - t0) / 1000;
      if (r.code !== 0) throw new Error(`ctr images import exited ${r.code}: ${r.stderr}`);
      if (!/unpacking .*done/.test(r.stdout)) throw new Error(`ctr images import did not unpack: ${r.stdout}`);
      // Unpacked: one committed snapshot per layer.
      const snaps = await t.clients.listSnapshots(SNAPSHOTTER);
      if (snaps.filter((s) => s.kind === 3).length !== img.layers.length) {
        throw new Error(`${t.side}: ${snaps.length} snapshots after import, expected ${img.layers.length} committed: ${JSON.stringify(snaps)}`);
      }
      return uncompressedBytes(img) / 1e6 / seconds;
    } finally {
      await removeImage(t, img, note);
      flushDisk();
    }
  },
});
