/**
 * Deterministic pseudo-random file contents and choices for generated images. Contents are
 * AES-128-CTR keystream (fast, native) keyed by a seed and the file's path, with every other 4 KiB
 * block replaced by repeated text so that layers compress roughly 2:1 like real ones.
 */
import { createCipheriv, createHash } from 'node:crypto';
import type { TarData } from './tar.js';

const CHUNK = 1 << 20;
const BLOCK = 4096;
const ZEROS = Buffer.alloc(CHUNK);

/** A 16-byte key derived from a seed string. */
export function contentKey(seed: string): Buffer {
  return createHash('sha256').update(`flotilla-test-image\0${seed}`).digest().subarray(0, 16);
}

/** Yields the `size` bytes of the file at `path` (in chunks of at most 1 MiB). */
export function* generateContent(key: Buffer, path: string, size: number): Generator<Buffer> {
  const iv = createHash('sha256').update(path).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const line = Buffer.from(`${path} flotilla test data\n`);
  for (let off = 0; off < size; off += CHUNK) {
    const n = Math.min(CHUNK, size - off);
    const buf = cipher.update(ZEROS.subarray(0, n));
    for (let b = off - (off % BLOCK); b < off + n; b += BLOCK) {
      if ((b / BLOCK) % 2 === 1) buf.fill(line, Math.max(b, off) - off, Math.min(b + BLOCK, off + n) - off);
    }
    yield buf;
  }
}

/** Tar data for a generated file; `onDigest` receives its `sha256:<hex>` once it has been streamed. */
export function generatedData(key: Buffer, path: string, size: number, onDigest?: (digest: string) => void): TarData {
  return {
    size,
    *read() {
      const h = onDigest ? createHash('sha256') : undefined;
      for (const chunk of generateContent(key, path, size)) {
        h?.update(chunk);
        yield chunk;
      }
      if (h) onDigest!('sha256:' + h.digest('hex'));
    },
  };
}

/** A small deterministic PRNG (mulberry32) seeded from a string. */
export class Prng {
  private state: number;
  constructor(seed: string) {
    this.state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
}
