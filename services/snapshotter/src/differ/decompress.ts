/**
 * Streaming decompression of layer blobs.
 *
 * The compression is detected from the first bytes, as containerd's `compression.DecompressStream`
 * does: gzip (1f 8b 08), zstd (28 b5 2f fd, or a skippable frame 0x184D2A5?), else uncompressed.
 * Detection wins over the media type, so a `.tar` layer holding gzip still applies, and a layer
 * whose declared compression is absent from the bytes is read as plain tar (as containerd does).
 *
 * gzip uses node:zlib (streaming, concatenated members accepted). zstd uses node:zlib when the
 * runtime has it (Node >= 22.15) and otherwise `fzstd`: Node 20's zlib has no zstd, and fzstd is a
 * maintained pure-JavaScript streaming decoder (no native build, so installs need nothing but the npm
 * registry). The native zstd bindings on npm either fetch prebuilt binaries from GitHub at install
 * time (`zstd-napi` via prebuild-install, which fails offline and then needs node-gyp) or only offer
 * whole-buffer calls (`@mongodb-js/zstd`), which would break the bounded-memory rule for big layers.
 *
 * Failures of the compressed stream (corrupt or truncated data) are DataLoss.
 */
import * as zlib from 'node:zlib';
import { Readable, type Transform } from 'node:stream';
import { Code, kindError, FlotillaError } from '@flotilla/api';
import { Decompress as ZstdDecompress } from 'fzstd';

/** What a stream's first bytes say. */
export type Compression = 'none' | 'gzip' | 'zstd';

/** Bytes needed by {@link detectCompression}. */
export const MAGIC_BYTES = 8;

/** Detects the compression of a stream from its first bytes (at least 8 when the stream has them). */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 8) {
    const magic = (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0;
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) return 'zstd';
  }
  return 'none';
}

/** Any byte source the differ accepts. */
export type ByteSource = AsyncIterable<Uint8Array> | Readable;

/** Normalises a source to Uint8Array chunks (strings from a mis-set Readable are refused). */
export async function* chunksOf(source: ByteSource): AsyncGenerator<Uint8Array> {
  for await (const c of source as AsyncIterable<unknown>) {
    if (c instanceof Uint8Array) {
      if (c.length) yield c;
    } else {
      throw kindError(Code.InvalidArgument, 'layer stream yielded a non-binary chunk');
    }
  }
}

/**
 * Peeks the first bytes of a source. Returns them and a source that replays them before the rest.
 */
export async function peek(
  source: AsyncIterable<Uint8Array>,
  n: number,
): Promise<{ head: Uint8Array; rest: AsyncIterable<Uint8Array> }> {
  const it = source[Symbol.asyncIterator]();
  const taken: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    taken.push(r.value);
    have += r.value.length;
  }
  const head = Buffer.concat(taken).subarray(0, n);
  async function* replay(): AsyncGenerator<Uint8Array> {
    try {
      for (const t of taken) yield t;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      if (!done) await it.return?.();
    }
  }
  return { head, rest: replay() };
}

function dataLoss(what: string, err: unknown): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return kindError(Code.DataLoss, `${what}: ${msg}`, err);
}

const ZLIB_CHUNK = 256 * 1024;

async function* throughZlib(source: AsyncIterable<Uint8Array>, z: Transform, what: string): AsyncGenerator<Uint8Array> {
  const input = Readable.from(source, { objectMode: false, highWaterMark: ZLIB_CHUNK });
  let sourceError: unknown;
  input.on('error', (err) => {
    sourceError = err;
    z.destroy(err);
  });
  input.pipe(z);
  try {
    for await (const chunk of z as AsyncIterable<Buffer>) yield chunk;
  } catch (err) {
    if (sourceError !== undefined) throw sourceError;
    throw dataLoss(what, err);
  } finally {
    input.unpipe(z);
    input.destroy();
    z.destroy();
  }
}

/** Decompresses gzip (streaming). Corrupt or truncated input is DataLoss. */
export function gunzipStream(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  return throughZlib(source, zlib.createGunzip({ chunkSize: ZLIB_CHUNK }), 'gzip layer');
}

/** Whether this runtime's node:zlib has zstd (Node >= 22.15). */
export const nativeZstd = typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';

/** Decompresses zstd (streaming). Corrupt or truncated input is DataLoss. */
export function unzstdStream(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  if (nativeZstd) {
    const create = (zlib as unknown as { createZstdDecompress(o: object): Transform }).createZstdDecompress;
    return throughZlib(source, create({ chunkSize: ZLIB_CHUNK }), 'zstd layer');
  }
  return fzstdStream(source);
}

async function* fzstdStream(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const d = new ZstdDecompress((chunk) => {
    out.push(chunk);
  });
  let ended = false;
  try {
    for await (const c of source) {
      try {
        d.push(c);
      } catch (err) {
        throw dataLoss('zstd layer', err);
      }
      while (out.length) yield out.shift()!;
    }
    try {
      d.push(new Uint8Array(0), true);
    } catch (err) {
      throw dataLoss('zstd layer', err);
    }
    ended = true;
    while (out.length) yield out.shift()!;
  } finally {
    if (!ended) out.length = 0;
  }
}

/**
 * Decompresses a layer stream according to its magic bytes. Returns the detected compression and
 * the uncompressed chunks.
 */
export async function decompressStream(
  source: ByteSource,
): Promise<{ compression: Compression; stream: AsyncIterable<Uint8Array> }> {
  const { head, rest } = await peek(chunksOf(source), MAGIC_BYTES);
  const compression = detectCompression(head);
  switch (compression) {
    case 'gzip':
      return { compression, stream: gunzipStream(rest) };
    case 'zstd':
      return { compression, stream: unzstdStream(rest) };
    default:
      return { compression, stream: rest };
  }
}
