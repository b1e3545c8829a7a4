/** Image archives `ctr images import` reads: the OCI image layout and `docker save`'s format. */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { chainIds, digestHex, sha256Bytes } from './digest.js';
import { IMAGE_CREATED, splitReference, type TestImage } from './image.js';
import { sortEntries, tarStream, type TarData, type TarEntry } from './tar.js';

function dataOf(content: Buffer | string, size: number): TarData {
  if (Buffer.isBuffer(content)) return content;
  return { size, read: () => createReadStream(content, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer> };
}

/** Writes `entries` (sorted here) as a tar to `file` (via a temporary name) and returns its sha256 digest. */
async function writeArchive(entries: TarEntry[], file: string): Promise<string> {
  const hash = createHash('sha256');
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const tee = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    await pipeline(Readable.from(tarStream(sortEntries(entries))), tee, createWriteStream(tmp));
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return 'sha256:' + hash.digest('hex');
}

/**
 * Writes `image` as an OCI image layout tar (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), the
 * format `ctr images export` writes and `ctr images import` reads; the index names the manifest
 * with `io.containerd.image.name` (full name) and `org.opencontainers.image.ref.name` (tag).
 * Returns the archive's sha256 digest (stable for the same image).
 */
export async function writeOciArchive(image: TestImage, file: string): Promise<string> {
  const entries: TarEntry[] = [
    { path: 'blobs', type: 'dir' },
    { path: 'blobs/sha256', type: 'dir' },
    { path: 'index.json', type: 'file', data: Buffer.from(JSON.stringify(image.index)) },
    { path: 'oci-layout', type: 'file', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
  ];
  const blobs = new Map<string, TarData>();
  blobs.set(image.configDescriptor.digest, image.configBytes);
  blobs.set(image.manifestDescriptor.digest, image.manifestBytes);
  for (const l of image.layers) blobs.set(l.digest, dataOf(l.blob, l.size));
  for (const [digest, data] of blobs) entries.push({ path: `blobs/sha256/${digestHex(digest)}`, type: 'file', mode: 0o444, data });
  return writeArchive(entries, file);
}

/** Options of {@link writeDockerArchive}. */
export interface DockerArchiveOptions {
  /** Store the gzip blobs as `layer.tar` instead of the uncompressed tars `docker save` writes. */
  compressedLayers?: boolean;
}

/**
 * Writes `image` in `docker save` format: `manifest.json` (`Config`, `RepoTags`, `Layers`),
 * `<config hex>.json`, `<layer id>/layer.tar` (+ `VERSION`, `json`) and `repositories`. Layer ids
 * are the hex of each layer's chain ID. Returns the archive's sha256 digest.
 */
export async function writeDockerArchive(image: TestImage, file: string, opts: DockerArchiveOptions = {}): Promise<string> {
  const configFile = `${digestHex(image.configDescriptor.digest)}.json`;
  const ids = chainIds(image.layers.map((l) => l.diffId)).map(digestHex);
  const entries: TarEntry[] = [{ path: configFile, type: 'file', data: image.configBytes }];
  image.layers.forEach((l, i) => {
    const id = ids[i]!;
    const legacy = { id, ...(i > 0 ? { parent: ids[i - 1] } : {}), created: IMAGE_CREATED, os: image.config.os };
    entries.push(
      { path: id, type: 'dir' },
      { path: `${id}/VERSION`, type: 'file', data: Buffer.from('1.0') },
      { path: `${id}/json`, type: 'file', data: Buffer.from(JSON.stringify(legacy)) },
      { path: `${id}/layer.tar`, type: 'file', data: opts.compressedLayers ? dataOf(l.blob, l.size) : dataOf(l.tar, l.tarSize) },
    );
  });
  const manifest = [{ Config: configFile, RepoTags: [image.name], Layers: ids.map((id) => `${id}/layer.tar`) }];
  entries.push({ path: 'manifest.json', type: 'file', data: Buffer.from(JSON.stringify(manifest)) });
  const ref = splitReference(image.name);
  if (ref.tag !== undefined && ids.length > 0) {
    entries.push({ path: 'repositories', type: 'file', data: Buffer.from(JSON.stringify({ [ref.repository]: { [ref.tag]: ids[ids.length - 1] } })) });
  }
  return writeArchive(entries, file);
}

/**
 * The manifest digest `ctr images import` (containerd 1.6, `--compress-blobs` off) records for the
 * docker archive of `image`: containerd synthesises a Docker schema 2 manifest from `manifest.json`,
 * referencing each `layer.tar` as it is (uncompressed tar, or gzip with `compressedLayers`).
 */
export function dockerImportDigest(image: TestImage, opts: DockerArchiveOptions = {}): string {
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: image.configDescriptor.digest, size: image.configDescriptor.size },
    layers: image.layers.map((l) =>
      opts.compressedLayers
        ? { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: l.digest, size: l.size }
        : { mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: l.diffId, size: l.tarSize },
    ),
  };
  return sha256Bytes(JSON.stringify(manifest));
}
