/**
 * One open ingest of the local store (containerd's `content/local/writer.go`): positional writes to
 * `data` hashed as they go, one fsync at commit, and a link(2) into `blobs/` so a blob appears whole
 * or not at all.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { chmod, link } from 'node:fs/promises';
import { Code, alreadyExists, failedPrecondition, invalidArgument, kindError, notFound } from '@flotilla/api';
import { digestHex, optionalSize } from '../names.js';
import type { BlobInfo, CommitOptions, ContentWriter, IngestStatus } from '../types.js';
import { ioError, isErrno } from './io-errors.js';
import type { IngestPaths } from './layout.js';
import type { IngestLock } from './locks.js';

/** What the writer needs from its store. */
export interface WriterHost {
  /** Path of the blob with hex digest `hex`. */
  blobPath(hex: string): string;
  /** Makes a new blob's directory entry durable. */
  syncBlobDir(): Promise<void>;
  /** Removes the ingest folder. */
  removeIngest(paths: IngestPaths): Promise<void>;
  /** Records `updatedAt` in the ingest's `updatedat` file. */
  writeUpdatedAt(paths: IngestPaths, at: number): Promise<void>;
  /** Forgets the writer (it no longer holds its ingest). */
  detach(writer: LocalWriter): void;
}

/** The state a writer starts from (fresh or resumed). */
export interface WriterStart {
  ref: string;
  paths: IngestPaths;
  fh: FileHandle;
  hash: Hash;
  offset: number;
  total: number;
  expected?: string;
  startedAt: number;
  updatedAt: number;
  lock: IngestLock;
}

type State = 'open' | 'closed' | 'aborted';

/** A locked, open ingest. Operations run one at a time, in call order. */
export class LocalWriter implements ContentWriter {
  readonly ref: string;
  private readonly paths: IngestPaths;
  private fh: FileHandle;
  private hash: Hash;
  private offset: number;
  private total: number;
  private expected?: string;
  private readonly startedAt: number;
  private updatedAt: number;
  private readonly lock: IngestLock;
  private state: State = 'open';
  private final?: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: WriterHost,
    s: WriterStart,
  ) {
    this.ref = s.ref;
    this.paths = s.paths;
    this.fh = s.fh;
    this.hash = s.hash;
    this.offset = s.offset;
    this.total = s.total;
    this.expected = s.expected;
    this.startedAt = s.startedAt;
    this.updatedAt = s.updatedAt;
    this.lock = s.lock;
  }

  status(): IngestStatus {
    return {
      ref: this.ref,
      offset: this.offset,
      total: this.total,
      ...(this.expected ? { expected: this.expected } : {}),
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
    };
  }

  digest(): string {
    return this.final ?? `sha256:${this.hash.copy().digest('hex')}`;
  }

  write(offset: number, data: Uint8Array): Promise<number> {
    return this.serial(() => this.ending(() => this.doWrite(offset, data)));
  }

  commit(opts: CommitOptions = {}): Promise<BlobInfo> {
    return this.serial(() => this.ending(() => this.doCommit(opts)));
  }

  close(): Promise<void> {
    return this.serial(() => this.doClose());
  }

  /**
   * The store's abort: waits for the operation in progress, runs `remove` (which deletes the ingest
   * folder) while still holding the lock, and leaves the writer failing with NotFound.
   */
  invalidate(remove: () => Promise<void>): Promise<void> {
    return this.serial(async () => {
      if (this.state !== 'open') return remove();
      this.state = 'aborted';
      await this.fh.close().catch(() => undefined);
      try {
        await remove();
      } finally {
        await this.release(true);
      }
    });
  }

  /** Runs `op`; a failure ends the writer (as it ends a Write stream), keeping the ingest. */
  private async ending<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (this.state === 'open') {
        this.state = 'closed';
        await this.release(false, true);
      }
      throw err;
    }
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private usable(): void {
    if (this.state === 'aborted') throw notFound(`ingest ref ${JSON.stringify(this.ref)}`);
    if (this.state !== 'open') throw failedPrecondition(`writer of ref ${JSON.stringify(this.ref)} is closed`);
  }

  private async doWrite(offset: number, data: Uint8Array): Promise<number> {
    this.usable();
    optionalSize(offset, 'offset');
    if (!(data instanceof Uint8Array)) throw invalidArgument('data must be bytes');
    if (offset !== this.offset) {
      // containerd's Write service: offset 0 restarts the ingest, any other offset must be the current one.
      if (offset !== 0) throw kindError(Code.OutOfRange, `write @${offset} must occur at current offset ${this.offset}`);
      await this.truncate();
    }
    if (data.length === 0) return this.offset;
    if (this.total > 0 && this.offset + data.length > this.total) {
      throw invalidArgument(`write of ${data.length} bytes at offset ${this.offset} exceeds total ${this.total}`);
    }
    // Hash while the kernel copies: the write runs on the thread pool, the hash on this thread.
    const pending = writeFully(this.fh, data, this.offset);
    this.hash.update(data);
    try {
      await pending;
    } catch (err) {
      // The hash now runs ahead of the file; the writer ends (see `ending`) and a resume re-hashes.
      throw ioError(`write ingest ref ${JSON.stringify(this.ref)}`, err);
    }
    this.offset += data.length;
    this.updatedAt = Date.now();
    return this.offset;
  }

  private async truncate(): Promise<void> {
    try {
      await this.fh.truncate(0);
    } catch (err) {
      throw ioError(`truncate ingest ref ${JSON.stringify(this.ref)}`, err);
    }
    this.hash = createHash('sha256');
    this.offset = 0;
    this.updatedAt = Date.now();
  }

  private async doCommit(opts: CommitOptions): Promise<BlobInfo> {
    this.usable();
    const wanted = optionalSize(opts.size, 'size') || this.total;
    const expected = opts.expected ? opts.expected : this.expected;
    if (expected) digestHex(expected);
    // From here on the writer is finished whatever happens (containerd unlocks in a defer).
    this.state = 'closed';
    let size: number;
    try {
      await this.fh.sync();
      size = (await this.fh.stat()).size;
    } catch (err) {
      await this.release(false);
      throw ioError(`commit ingest ref ${JSON.stringify(this.ref)}`, err);
    }
    const hex = this.hash.digest('hex');
    const digest = `sha256:${hex}`;
    this.final = digest;
    // A mismatch keeps the ingest (containerd does too): the caller may abort it or resume it.
    if (wanted > 0 && wanted !== size) {
      await this.release(false);
      throw failedPrecondition(`unexpected commit size ${size}, expected ${wanted}`);
    }
    if (expected && expected !== digest) {
      await this.release(false);
      throw failedPrecondition(`unexpected commit digest ${digest}, expected ${expected}`);
    }
    try {
      // Read-only like containerd's blobs; link(2) below shares the inode, so the blob is born 0444.
      await this.fh.chmod(0o444);
    } catch (err) {
      await this.release(false);
      throw ioError(`commit ingest ref ${JSON.stringify(this.ref)}`, err);
    }
    try {
      await link(this.paths.data, this.host.blobPath(hex));
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        await this.host.removeIngest(this.paths).catch(() => undefined);
        await this.release(true);
        throw alreadyExists(`content ${digest}`);
      }
      await chmod(this.paths.data, 0o644).catch(() => undefined);
      await this.release(false);
      throw ioError(`commit ingest ref ${JSON.stringify(this.ref)}`, err);
    }
    try {
      await this.host.syncBlobDir();
    } finally {
      await this.host.removeIngest(this.paths).catch(() => undefined);
      await this.release(true);
    }
    return { digest, size };
  }

  private async doClose(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closed';
    await this.release(false, true);
  }

  private async release(dirGone: boolean, recordUpdate = false): Promise<void> {
    await this.fh.close().catch(() => undefined);
    if (recordUpdate && !dirGone) await this.host.writeUpdatedAt(this.paths, this.updatedAt).catch(() => undefined);
    await this.lock.release(dirGone);
    this.host.detach(this);
  }
}

/** Writes all of `data` at `position` (a regular file may still take it in several writes). */
async function writeFully(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('short write');
    done += bytesWritten;
  }
}
