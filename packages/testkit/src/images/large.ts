/**
 * The large test image: the busybox rootfs plus generated layers with thousands of small files,
 * a few large ones and every kind of entry an applier must get right (links, devices, FIFOs,
 * xattrs, special modes, foreign owners, long and non-ASCII names, whiteouts, an opaque dir,
 * type changes). Built streaming to disk and cached by a hash of its parameters.
 *
 * Cache tree (one directory per parameter hash, renamed into place when complete):
 *
 *   <cache>/large-<key>/image.json          the description (paths relative) + expected rootfs
 *   <cache>/large-<key>/layers/<n>.tar      uncompressed layer tars, bottom first
 *   <cache>/large-<key>/blobs/sha256/<hex>  gzip layers, config, manifest
 *   <cache>/large-<key>/oci.tar             the OCI archive (`ctr images import`)
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeOciArchive } from './archive.js';
import { BUSYBOX_STATIC, busyboxRootfsEntries } from './busybox.js';
import { contentKey, generatedData, Prng } from './content.js';
import { digestHex, sha256Bytes } from './digest.js';
import { assembleImage, DEFAULT_PATH, type TestImage } from './image.js';
import { GZIP_LEVEL, writeLayerFiles, type ImageLayer } from './layer.js';
import { entrySize, sortEntries, withParentDirs, type TarEntry, type TarEntryType } from './tar.js';

/** Bumped whenever the generator's output changes, so old cache entries are not reused. */
const GENERATOR_VERSION = 1;

/** Default cache directory of generated images (override with env `FLOTILLA_TEST_IMAGES`). */
export const DEFAULT_IMAGE_CACHE = '/var/tmp/flotilla-test-images';

/** Default name of the large test image. */
export const LARGE_IMAGE_NAME = 'flotilla.test/large:latest';

/** Options of {@link buildLargeImage}. */
export interface LargeImageOptions {
  /** Approximate bytes of file contents in the generated layers; default 300 MiB. */
  totalBytes?: number;
  /** Number of layers including the busybox base; default 5, at least 3. */
  layers?: number;
  /** Seed of all generated contents and choices; default `flotilla`. */
  seed?: string;
  /** Image name; default `flotilla.test/large:latest`. */
  name?: string;
  /** The busybox binary of the base layer; default `/bin/busybox`. */
  busybox?: string;
}

/** What a path of the final (all layers applied) root filesystem must be. Hardlinks appear as their target's file. */
export interface RootfsEntry {
  type: Exclude<TarEntryType, 'hardlink'>;
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Files: size and `sha256:<hex>` of the contents. */
  size?: number;
  sha256?: string;
  /** Symlinks: the target. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, string>;
  /** Files reached through hardlinks: the path of the first name (the same inode). */
  linkedTo?: string;
}

/** Paths of the large image whose behaviour tests check; all relative to the rootfs. */
export const LARGE_IMAGE_PATHS = {
  /** Deleted by `wh/.wh.file-gone.txt` in layer 2. */
  deletedFile: 'wh/file-gone.txt',
  /** Deleted (with its children) by `wh/.wh.dir-gone` in layer 2. */
  deletedDir: 'wh/dir-gone/sub',
  /** Survives next to the deleted ones. */
  keptFile: 'wh/kept.txt',
  /** Made opaque in layer 2 (`opaque/.wh..wh..opq`); only layer 2's children remain. */
  opaqueDir: 'opaque',
  opaqueChildren: ['new-sub', 'new.txt'],
  /** A file with two xattrs (`user.flotilla.test`, `user.flotilla.long`). */
  xattrFile: 'special/xattr-file',
  /** Two names of one inode. */
  hardlinks: ['special/hardlink-target', 'special/hardlink-1'],
  fifo: 'special/fifo',
  charDevice: 'special/dev-null',
  blockDevice: 'special/dev-loop0',
  setuidFile: 'special/setuid',
  stickyDir: 'special/sticky-dir',
  /** Content v1 in layer 1, v2 in layer 2. */
  replacedFile: 'replaced.txt',
} as const;

/** A large image on disk. */
export interface LargeImage extends TestImage {
  dir: string;
  ociArchive: string;
  /** The parameter hash naming the cache entry. */
  cacheKey: string;
  /** Whether this call reused a cached build. */
  cached: boolean;
  /** The expected root filesystem after all layers are applied (whiteouts honoured). */
  rootfs: Record<string, RootfsEntry>;
}

interface Resolved {
  totalBytes: number;
  layers: number;
  seed: string;
  name: string;
  busybox: string;
}

/** The cache root used when none is given: env `FLOTILLA_TEST_IMAGES`, else {@link DEFAULT_IMAGE_CACHE}. */
export function imageCacheDir(): string {
  return process.env.FLOTILLA_TEST_IMAGES || DEFAULT_IMAGE_CACHE;
}

function resolveOptions(opts: LargeImageOptions): Resolved {
  const r: Resolved = {
    totalBytes: opts.totalBytes ?? 300 * 1024 * 1024,
    layers: opts.layers ?? 5,
    seed: opts.seed ?? 'flotilla',
    name: opts.name ?? LARGE_IMAGE_NAME,
    busybox: opts.busybox ?? BUSYBOX_STATIC,
  };
  if (!Number.isInteger(r.layers) || r.layers < 3) throw new Error(`large image needs at least 3 layers, got ${r.layers}`);
  if (!Number.isSafeInteger(r.totalBytes) || r.totalBytes < 1 << 20) throw new Error(`large image needs totalBytes >= 1 MiB, got ${r.totalBytes}`);
  return r;
}

const text = (s: string): Buffer => Buffer.from(s);

/** Builds the entries of one generated layer and tracks digests of generated files. */
class LayerPlan {
  readonly entries: TarEntry[] = [];
  constructor(
    private readonly key: Buffer,
    private readonly digests: Map<string, string>,
  ) {}
  add(e: TarEntry): void {
    this.entries.push(e);
  }
  file(path: string, size: number, extra: Partial<TarEntry> = {}): void {
    this.entries.push({ path, type: 'file', ...extra, data: generatedData(this.key, path, size, (d) => this.digests.set(path, d)) });
  }
  textFile(path: string, content: string, extra: Partial<TarEntry> = {}): void {
    this.entries.push({ path, type: 'file', ...extra, data: text(content) });
  }
  whiteout(path: string): void {
    const slash = path.lastIndexOf('/');
    this.entries.push({ path: `${path.slice(0, slash + 1)}.wh.${path.slice(slash + 1)}`, type: 'file' });
  }
  opaque(dir: string): void {
    this.entries.push({ path: dir, type: 'dir' }, { path: `${dir}/.wh..wh..opq`, type: 'file' });
  }
}

/** Fills a data layer with small files (1–64 KiB, nested dirs) and two large files, about `budget` bytes. */
function dataFiles(plan: LayerPlan, rng: Prng, k: number, budget: number): void {
  plan.file(`large/l${k}-a.bin`, Math.floor(budget * 0.2));
  plan.file(`large/l${k}-b.bin`, Math.floor(budget * 0.1));
  let left = budget - Math.floor(budget * 0.2) - Math.floor(budget * 0.1);
  // At least 16 files, so that every dNN/d0 directory later layers refer to exists.
  for (let n = 0; left > 0 || n < 16; n++) {
    const size = Math.max(1, Math.min(left, rng.int(1024, 64 * 1024)));
    left -= size;
    const name = `f${String(n).padStart(5, '0')}.bin`;
    const path = n % 97 === 50 ? `data/l${k}/deep/a/b/c/d/e/f/g/h/${name}` : `data/l${k}/d${String(n % 16).padStart(2, '0')}/d${Math.floor(n / 16) % 8}/${name}`;
    plan.file(path, size);
  }
}

/** Layer 1's special entries and the targets of later whiteouts. */
function specialEntries(plan: LayerPlan): void {
  const longName = 'c'.repeat(200) + '.txt';
  const longPax = `special/long-pax/${longName}`;
  plan.add({ path: 'special', type: 'dir' });
  plan.add({ path: 'special/symlink-rel', type: 'symlink', linkname: '../etc/passwd' });
  plan.add({ path: 'special/symlink-abs', type: 'symlink', linkname: '/bin/busybox' });
  plan.add({ path: 'special/symlink-dangling', type: 'symlink', linkname: 'does/not/exist' });
  plan.add({ path: 'special/symlink-dir', type: 'symlink', linkname: '../data' });
  plan.add({ path: 'special/symlink-escape', type: 'symlink', linkname: '../../../../../etc/shadow' });
  plan.add({ path: 'special/symlink-long', type: 'symlink', linkname: `long-pax/${longName}` });
  plan.file('special/hardlink-target', 3000, { mode: 0o755 });
  plan.add({ path: 'special/hardlink-1', type: 'hardlink', linkname: 'special/hardlink-target', mode: 0o755 });
  plan.add({ path: 'special/hardlink-2', type: 'hardlink', linkname: 'special/hardlink-target', mode: 0o755 });
  plan.add({ path: 'special/hardlink-long', type: 'hardlink', linkname: longPax });
  plan.add({ path: 'special/hardlink-to-data', type: 'hardlink', linkname: 'data/l1/d01/d0/f00001.bin' });
  plan.add({ path: 'special/fifo', type: 'fifo', mode: 0o600 });
  plan.add({ path: 'special/dev-null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 });
  plan.add({ path: 'special/dev-loop0', type: 'block', mode: 0o660, devmajor: 7, devminor: 0 });
  plan.textFile('special/xattr-file', 'has xattrs\n', { xattrs: { 'user.flotilla.test': 'hello', 'user.flotilla.long': 'x'.repeat(1000) } });
  plan.add({ path: 'special/xattr-dir', type: 'dir', xattrs: { 'user.flotilla.dir': 'yes' } });
  plan.file('special/setuid', 2000, { mode: 0o4755 });
  plan.file('special/setgid', 2000, { mode: 0o2755 });
  plan.add({ path: 'special/sticky-dir', type: 'dir', mode: 0o1777 });
  plan.add({ path: 'special/setgid-dir', type: 'dir', mode: 0o2775 });
  plan.add({ path: 'special/readonly-dir', type: 'dir', mode: 0o555 });
  plan.textFile('special/readonly-dir/child', 'read only\n', { mode: 0o444 });
  plan.textFile('special/no-perms', 'nobody may read this\n', { mode: 0 });
  plan.textFile('special/owned-1000', 'uid 1000\n', { uid: 1000, gid: 1000, mode: 0o640 });
  plan.textFile('special/owned-big', 'uid 3000000\n', { uid: 3_000_000, gid: 3_000_001 });
  plan.add({ path: 'special/dir-owned', type: 'dir', uid: 1001, gid: 1002, mode: 0o750 });
  plan.textFile('special/dir-owned/inner', 'inner\n', { uid: 1001, gid: 1002 });
  plan.textFile(`special/long-ustar/${'a'.repeat(60)}/${'b'.repeat(60)}.txt`, 'ustar prefix+name\n');
  plan.file(longPax, 5000);
  plan.textFile(`special/long-pax/${('d'.repeat(50) + '/').repeat(6)}deep.txt`, 'deep and long\n');
  plan.textFile('special/ünïcødé-文件.txt', 'utf-8 name\n');
  for (const size of [0, 1, 511, 512, 513, 1023, 1024, 1025, 65536, 65537]) plan.file(`special/sizes/s${size}`, size);

  plan.textFile('wh/file-gone.txt', 'deleted in layer 2\n');
  plan.textFile('wh/kept.txt', 'kept\n');
  plan.textFile('wh/dir-gone/a.txt', 'deleted in layer 2\n');
  plan.textFile('wh/dir-gone/sub/b.txt', 'deleted in layer 2\n');
  plan.textFile('opaque/old-1.txt', 'hidden by the opaque dir\n');
  plan.textFile('opaque/old-2.txt', 'hidden by the opaque dir\n');
  plan.textFile('opaque/old-sub/c.txt', 'hidden by the opaque dir\n');
  plan.textFile('replaced.txt', 'v1\n');
  plan.textFile('type-change/inner.txt', 'a dir in layer 1, a file in layer 2\n');
  plan.textFile('type-change-2', 'a file in layer 1, a dir in layer 2\n');
}

/** Layer 2's whiteouts, opaque dir and replacements. */
function layer2Changes(plan: LayerPlan): void {
  plan.whiteout('wh/file-gone.txt');
  plan.whiteout('wh/dir-gone');
  plan.whiteout('data/l1/d00/d0/f00000.bin');
  plan.opaque('opaque');
  plan.textFile('opaque/new.txt', 'added with the opaque marker\n');
  plan.textFile('opaque/new-sub/d.txt', 'added with the opaque marker\n');
  plan.textFile('replaced.txt', 'v2\n');
  plan.textFile('type-change', 'now a file\n');
  plan.textFile('type-change-2/inner.txt', 'now a dir\n');
}

/** Applies one layer's entries to the expected rootfs (whiteouts first, then additions), as an applier must. */
function applyToRootfs(rootfs: Map<string, RootfsEntry>, entries: TarEntry[], digests: Map<string, string>, pending: Array<() => void>): void {
  const removeTree = (p: string, keepSelf = false): void => {
    if (!keepSelf) rootfs.delete(p);
    for (const q of [...rootfs.keys()]) if (q.startsWith(p + '/')) rootfs.delete(q);
  };
  for (const e of entries) {
    const slash = e.path.lastIndexOf('/');
    const dir = e.path.slice(0, slash + 1);
    const base = e.path.slice(slash + 1);
    if (base === '.wh..wh..opq') removeTree(dir.slice(0, -1), true);
    else if (base.startsWith('.wh.')) removeTree(dir + base.slice(4));
  }
  for (const e of entries) {
    const base = e.path.slice(e.path.lastIndexOf('/') + 1);
    if (base.startsWith('.wh.')) continue;
    const old = rootfs.get(e.path);
    if (old && (old.type === 'dir') !== (e.type === 'dir')) removeTree(e.path);
    if (e.type === 'hardlink') {
      const target = rootfs.get(e.linkname!);
      if (!target) throw new Error(`hardlink ${e.path} to missing ${e.linkname}`);
      target.linkedTo ??= e.linkname!;
      rootfs.set(e.path, target);
      continue;
    }
    const r: RootfsEntry = { type: e.type, mode: e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0 };
    if (e.type === 'file') {
      r.size = entrySize(e);
      if (Buffer.isBuffer(e.data)) r.sha256 = sha256Bytes(e.data);
      else if (!e.data) r.sha256 = sha256Bytes('');
      else pending.push(() => (r.sha256 = digests.get(e.path)));
    }
    if (e.type === 'symlink') r.linkname = e.linkname!;
    if (e.type === 'char' || e.type === 'block') {
      r.devmajor = e.devmajor ?? 0;
      r.devminor = e.devminor ?? 0;
    }
    if (e.xattrs) r.xattrs = Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [k, v.toString()]));
    rootfs.set(e.path, r);
  }
}

interface Stored {
  version: number;
  cacheKey: string;
  options: Resolved;
  name: string;
  configDigest: string;
  manifestDigest: string;
  layers: (Omit<ImageLayer, 'tar' | 'blob'> & { tar: string; blob: string })[];
  rootfs: Record<string, RootfsEntry>;
}

function loadCached(dir: string): LargeImage | undefined {
  const file = join(dir, 'image.json');
  if (!existsSync(file)) return undefined;
  const s = JSON.parse(readFileSync(file, 'utf8')) as Stored;
  const layers: ImageLayer[] = s.layers.map((l) => ({ ...l, tar: join(dir, l.tar), blob: join(dir, l.blob) }));
  for (const l of layers) {
    if (statSync(l.tar as string, { throwIfNoEntry: false })?.size !== l.tarSize) return undefined;
    if (statSync(l.blob as string, { throwIfNoEntry: false })?.size !== l.size) return undefined;
  }
  const image = assembleImage(s.name, layers, largeImageConfig(s.options));
  if (image.manifestDescriptor.digest !== s.manifestDigest) return undefined;
  const ociArchive = join(dir, 'oci.tar');
  if (!existsSync(ociArchive)) return undefined;
  return { ...image, dir, ociArchive, cacheKey: s.cacheKey, cached: true, rootfs: s.rootfs };
}

function largeImageConfig(o: Resolved): Parameters<typeof assembleImage>[2] {
  return {
    config: { Env: [DEFAULT_PATH], Cmd: ['/bin/sh'], Labels: { 'org.flotilla.test.seed': o.seed } },
    history: Array.from({ length: o.layers }, (_, i) => (i === 0 ? 'flotilla testkit: busybox rootfs' : `flotilla testkit: generated layer ${i}`)),
  };
}

/** The hash naming a large image's cache entry: generator version, options, busybox binary, gzip level and zlib version. */
export function largeImageCacheKey(opts: LargeImageOptions = {}): string {
  const o = resolveOptions(opts);
  const busyboxDigest = sha256Bytes(readFileSync(o.busybox));
  const material = JSON.stringify({ v: GENERATOR_VERSION, ...o, busybox: busyboxDigest, gzip: GZIP_LEVEL, zlib: process.versions.zlib });
  return createHash('sha256').update(material).digest('hex').slice(0, 24);
}

/**
 * Builds (or reuses from the cache) the large multi-layer test image and its OCI archive.
 *
 * `dir` is the cache root (default env `FLOTILLA_TEST_IMAGES` or `/var/tmp/flotilla-test-images`);
 * the image lives in `<dir>/large-<key>/` where key hashes every parameter, and is only ever
 * created whole (built in a temporary directory, then renamed), so concurrent builders are safe.
 * Layer 0 is the busybox rootfs; layer 1 has data files plus special entries (see
 * {@link LARGE_IMAGE_PATHS}); layer 2 whiteouts, an opaque dir and type changes; layer 3 recreates
 * a whited-out dir; the top layer (from 4 layers on) whites out a data dir of layer 1 and a file of
 * layer 2. Every data layer has ~`totalBytes / (layers-1)` bytes: thousands of 1–64 KiB files
 * in nested dirs and two large files.
 */
export async function buildLargeImage(dir?: string, opts: LargeImageOptions = {}): Promise<LargeImage> {
  const o = resolveOptions(opts);
  const root = dir ?? imageCacheDir();
  const cacheKey = largeImageCacheKey(o);
  const final = join(root, `large-${cacheKey}`);
  const hit = loadCached(final);
  if (hit) return hit;
  // Callers in one process share one build.
  let build = building.get(final);
  if (!build) {
    build = buildInto(root, final, cacheKey, o).finally(() => building.delete(final));
    building.set(final, build);
  }
  return build;
}

const building = new Map<string, Promise<LargeImage>>();

async function buildInto(root: string, final: string, cacheKey: string, o: Resolved): Promise<LargeImage> {

  mkdirSync(root, { recursive: true });
  // Leftovers of builders that died are removed once they are an hour old.
  for (const name of readdirSync(root)) {
    if (!name.startsWith('.tmp-large-')) continue;
    const p = join(root, name);
    if (Date.now() - statSync(p).mtimeMs > 3600_000) rmSync(p, { recursive: true, force: true });
  }
  const tmp = join(root, `.tmp-large-${cacheKey}-${process.pid}-${Date.now()}`);
  rmSync(final, { recursive: true, force: true });
  mkdirSync(join(tmp, 'layers'), { recursive: true });
  mkdirSync(join(tmp, 'blobs', 'sha256'), { recursive: true });
  try {
    const key = contentKey(o.seed);
    const digests = new Map<string, string>();
    const dataLayers = o.layers - 1;
    const budget = Math.floor(o.totalBytes / dataLayers);
    const plans: TarEntry[][] = [busyboxRootfsEntries({ busybox: o.busybox })];
    for (let k = 1; k <= dataLayers; k++) {
      const plan = new LayerPlan(key, digests);
      dataFiles(plan, new Prng(`${o.seed}/layer/${k}`), k, budget);
      if (k === 1) specialEntries(plan);
      if (k === 2) layer2Changes(plan);
      if (k === 3) plan.textFile('wh/dir-gone/reborn.txt', 'recreated after the whiteout\n');
      if (k === dataLayers && k >= 3) {
        plan.whiteout('data/l1/d05');
        plan.whiteout('data/l2/d01/d0/f00001.bin');
      }
      plans.push(sortEntries(withParentDirs(plan.entries)));
    }
    const rootfs = new Map<string, RootfsEntry>();
    const pending: Array<() => void> = [];
    for (const entries of plans) applyToRootfs(rootfs, entries, digests, pending);

    // All layers at once: gzip runs on the thread pool while this thread generates and hashes.
    const layers = await Promise.all(plans.map((entries, i) => writeLayerFiles(entries, join(tmp, 'layers', `${i}.tar`), join(tmp, 'blobs', 'sha256', `layer-${i}.tmp`))));
    for (const [i, l] of layers.entries()) {
      const blob = join(tmp, 'blobs', 'sha256', digestHex(l.digest));
      renameSync(join(tmp, 'blobs', 'sha256', `layer-${i}.tmp`), blob);
      l.blob = blob;
    }
    for (const f of pending) f();

    const image = assembleImage(o.name, layers, largeImageConfig(o));
    writeFileSync(join(tmp, 'blobs', 'sha256', digestHex(image.configDescriptor.digest)), image.configBytes);
    writeFileSync(join(tmp, 'blobs', 'sha256', digestHex(image.manifestDescriptor.digest)), image.manifestBytes);
    await writeOciArchive(image, join(tmp, 'oci.tar'));

    const sortedRootfs = Object.fromEntries([...rootfs.entries()].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    const stored: Stored = {
      version: GENERATOR_VERSION,
      cacheKey,
      options: o,
      name: o.name,
      configDigest: image.configDescriptor.digest,
      manifestDigest: image.manifestDescriptor.digest,
      layers: layers.map((l, i) => ({ ...l, tar: `layers/${i}.tar`, blob: `blobs/sha256/${digestHex(l.digest)}` })),
      rootfs: sortedRootfs,
    };
    writeFileSync(join(tmp, 'image.json'), JSON.stringify(stored, null, 1));
    try {
      renameSync(tmp, final);
    } catch (err) {
      // Another builder finished first: use theirs.
      const theirs = loadCached(final);
      if (!theirs) throw err;
      rmSync(tmp, { recursive: true, force: true });
      return { ...theirs, cached: false };
    }
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const built = loadCached(final);
  if (!built) throw new Error(`large image in ${final} is incomplete right after building it`);
  return { ...built, cached: false };
}
