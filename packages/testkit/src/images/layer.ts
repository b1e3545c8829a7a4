/** Layers: a tar of entries plus its gzip blob, with the digests an image needs. */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGzip, gzipSync } from 'node:zlib';
import { tarStream, type TarEntry } from './tar.js';

/** The gzip level of every layer blob (fixed so blobs are reproducible). */
export const GZIP_LEVEL = 6;

/** OCI media type of a gzip-compressed layer. */
export const MEDIA_TYPE_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

const GZIP_OPTIONS = { level: GZIP_LEVEL, memLevel: 8, windowBits: 15, strategy: constants.Z_DEFAULT_STRATEGY };

/** One layer of a test image. `tar`/`blob` are bytes (small images) or absolute file paths (large ones). */
export interface ImageLayer {
  mediaType: typeof MEDIA_TYPE_LAYER_GZIP;
  /** Digest of the gzip blob (what manifests reference). */
  digest: string;
  /** Size of the gzip blob in bytes. */
  size: number;
  /** Digest of the uncompressed tar (the image config's `rootfs.diff_ids` entry). */
  diffId: string;
  /** Size of the uncompressed tar in bytes. */
  tarSize: number;
  /** The uncompressed tar. */
  tar: Buffer | string;
  /** The gzip blob. */
  blob: Buffer | string;
}

/** Builds a layer in memory from entries already in archive order (see `sortEntries`). */
export async function buildLayerInMemory(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): Promise<ImageLayer> {
  const chunks: Buffer[] = [];
  for await (const c of tarStream(entries)) chunks.push(c);
  const tar = Buffer.concat(chunks);
  const blob = gzipSync(tar, GZIP_OPTIONS);
  return {
    mediaType: MEDIA_TYPE_LAYER_GZIP,
    digest: 'sha256:' + createHash('sha256').update(blob).digest('hex'),
    size: blob.length,
    diffId: 'sha256:' + createHash('sha256').update(tar).digest('hex'),
    tarSize: tar.length,
    tar,
    blob,
  };
}

/**
 * Streams a layer to disk: the uncompressed tar to `tarPath` and its gzip to `blobPath`, hashing
 * both on the way (gzip runs on the libuv thread pool, so several layers built concurrently use
 * several cores). Entries must already be in archive order.
 */
export async function writeLayerFiles(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>, tarPath: string, blobPath: string): Promise<ImageLayer> {
  const tarHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let tarSize = 0;
  let size = 0;
  const tarFile = await open(tarPath, 'w');
  try {
    async function* source(): AsyncGenerator<Buffer> {
      for await (const chunk of tarStream(entries)) {
        tarHash.update(chunk);
        tarSize += chunk.length;
        for (let off = 0; off < chunk.length; ) off += (await tarFile.write(chunk, off)).bytesWritten;
        yield chunk;
      }
    }
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        blobHash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(Readable.from(source(), { objectMode: false, highWaterMark: 4 << 20 }), createGzip({ ...GZIP_OPTIONS, chunkSize: 256 << 10 }), count, createWriteStream(blobPath));
  } finally {
    await tarFile.close();
  }
  return {
    mediaType: MEDIA_TYPE_LAYER_GZIP,
    digest: 'sha256:' + blobHash.digest('hex'),
    size,
    diffId: 'sha256:' + tarHash.digest('hex'),
    tarSize,
    tar: tarPath,
    blob: blobPath,
  };
}
