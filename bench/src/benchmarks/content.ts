/**
 * Helpers of the content benchmarks: a random blob, a lock-step Content.Write like containerd's
 * remote writer (STAT, WRITE × n with offsets, COMMIT with total and expected digest), a hashing
 * Content.Read, and a Delete that waits for the blob to leave the disk.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { WriteAction } from '../clients.js';
import { sleep } from '../load.js';
import type { Target } from '../types.js';
import { flushDisk } from './util.js';

/** Bytes per WRITE message (what containerd's ctr and Go client send: 1 MiB). */
export const WRITE_CHUNK = 1 << 20;
/** Blob size of the content benchmarks: 512 MiB (--quick 64 MiB). */
export const blobSize = (quick: boolean) => (quick ? 64 : 512) * WRITE_CHUNK;
/** MB/s with MB = 10^6 bytes, as in the rest of the bench. */
export const mbPerSecond = (bytes: number, seconds: number) => bytes / 1e6 / seconds;
/** How long to wait for a deleted blob to leave the disk (GC) before noting it and moving on. */
const GC_WAIT_MS = 10_000;

export interface Blob {
  data: Buffer;
  digest: string;
}

/** A fresh random blob (unique per call, so no write ever finds it already present). */
export function randomBlob(size: number): Blob {
  const data = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; off += 64 << 20) randomFillSync(data, off, Math.min(64 << 20, size - off));
  return { data, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` };
}

/**
 * Writes a blob with Content.Write in lock step, 1 MiB per WRITE message. The commit labels the
 * blob a GC root (`containerd.io/gc.root`) so neither daemon's garbage collector removes it before
 * the benchmark deletes it (no lease is used).
 */
export async function writeBlob(t: Target, ref: string, blob: Blob): Promise<void> {
  const size = blob.data.length;
  const w = t.clients.openWrite();
  try {
    await w.send({ action: WriteAction.STAT, ref, total: size, expected: blob.digest });
    for (let offset = 0; offset < size; offset += WRITE_CHUNK) {
      const r = await w.send({ action: WriteAction.WRITE, ref, offset, data: blob.data.subarray(offset, offset + WRITE_CHUNK) });
      const expected = Math.min(size, offset + WRITE_CHUNK);
      if (Number(r.offset) !== expected) throw new Error(`${t.side}: WRITE at ${offset} answered offset ${r.offset}, expected ${expected}`);
    }
    const r = await w.send({
      action: WriteAction.COMMIT,
      ref,
      total: size,
      offset: size,
      expected: blob.digest,
      labels: { 'containerd.io/gc.root': new Date().toISOString() },
    });
    if (r.digest !== blob.digest) throw new Error(`${t.side}: COMMIT answered digest ${r.digest}, expected ${blob.digest}`);
    await w.close();
  } catch (err) {
    w.cancel();
    throw err;
  }
}

/** Reads a blob with Content.Read, hashing every chunk; fails unless size and digest match. */
export async function readBlob(t: Target, blob: Blob): Promise<void> {
  const hash = createHash('sha256');
  let next = 0;
  await t.clients.readContent(blob.digest, (data, offset) => {
    if (offset !== next) throw new Error(`${t.side}: Read chunk at offset ${offset}, expected ${next}`);
    hash.update(data);
    next += data.length;
  });
  if (next !== blob.data.length) throw new Error(`${t.side}: Read returned ${next} bytes, expected ${blob.data.length}`);
  const digest = `sha256:${hash.digest('hex')}`;
  if (digest !== blob.digest) throw new Error(`${t.side}: Read returned bytes of ${digest}, expected ${blob.digest}`);
}

/** Path of a blob in a daemon's content store (both use containerd's layout). */
export const blobPath = (t: Target, digest: string) => join(t.root, 'io.containerd.content.v1.content', 'blobs', ...digest.split(':'));

/**
 * Deletes a blob (untimed) and waits until its file is gone from the content store, so the
 * daemon's garbage collector does not remove 512 MiB during the next timed run (notes it when the
 * file stays), then flushes the disk.
 */
export async function deleteBlob(t: Target, digest: string, note: (text: string) => void): Promise<void> {
  await t.clients.deleteContent(digest);
  const path = blobPath(t, digest);
  const until = Date.now() + GC_WAIT_MS;
  while (existsSync(path)) {
    if (Date.now() > until) {
      note(`blob ${digest.slice(0, 19)} still on disk ${GC_WAIT_MS / 1000} s after Content.Delete (GC has not removed it)`);
      break;
    }
    await sleep(50);
  }
  flushDisk();
}
