/**
 * The local content store (containerd's `content/local`): blobs and resumable ingests in a folder
 * laid out as `layout.ts` documents.
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { Code, failedPrecondition, isDigest, kindError, notFound } from '@flotilla/api';
import { adaptObject, parseFilters } from '@flotilla/filters';
import { silentLogger, type Logger } from '@flotilla/log';
import { digestHex, optionalSize, validateNamespace, validateRef } from '../names.js';
import { READ_CHUNK, type BlobInfo, type ContentBackend, type ContentWriter, type IngestStatus, type OpenOptions } from '../types.js';
import { ioError, isErrno } from './io-errors.js';
import { ContentLayout, isIngestKey, type IngestPaths } from './layout.js';
import { acquireIngestLock, isStaleLock } from './locks.js';
import { LocalWriter, type WriterHost } from './writer.js';

/** Buffer size used to re-hash an ingest on resume. */
const REHASH_CHUNK = 1024 * 1024;

/** Options of {@link LocalContentStore.open}. */
export interface LocalStoreOptions {
  log?: Logger;
}

/** An ingest as read from disk. */
interface StoredIngest extends IngestStatus {
  namespace: string;
}

/** Content store on the local file system. */
export class LocalContentStore implements ContentBackend, WriterHost {
  readonly layout: ContentLayout;
  private readonly log: Logger;
  /** Writers open in this store, by ingest folder. */
  private readonly writers = new Map<string, LocalWriter>();

  private constructor(dir: string, o: LocalStoreOptions) {
    this.layout = new ContentLayout(dir);
    this.log = o.log ?? silentLogger();
  }

  /**
   * Opens (creating) the store in `dir` — the `io.containerd.content.v1.content` folder — and
   * cleans what a killed process left behind: stale lock files, half-written metadata files and
   * half-removed ingests. Ingests themselves are kept for resumption.
   */
  static async open(dir: string, o: LocalStoreOptions = {}): Promise<LocalContentStore> {
    const s = new LocalContentStore(dir, o);
    await mkdir(s.layout.blobDir, { recursive: true, mode: 0o755 });
    await mkdir(s.layout.ingestRoot, { recursive: true, mode: 0o755 });
    await s.cleanLeftovers();
    return s;
  }

  /** The folder of the store. */
  get dir(): string {
    return this.layout.dir;
  }

  private async cleanLeftovers(): Promise<void> {
    for (const name of await readdir(this.layout.ingestRoot)) {
      const path = `${this.layout.ingestRoot}/${name}`;
      if (!isIngestKey(name)) {
        if (name.endsWith('.tmp')) await rm(path, { recursive: true, force: true }).catch((err) => this.log.warn({ err, path }, 'cannot remove leftover'));
        continue;
      }
      const p = this.layout.ingest(name);
      let entries: string[];
      try {
        entries = await readdir(p.dir);
      } catch {
        continue;
      }
      for (const e of entries) if (e.endsWith('.tmp')) await rm(`${p.dir}/${e}`, { force: true }).catch(() => undefined);
      if (entries.includes('lock') && (await isStaleLock(p.lock))) {
        this.log.info({ ingest: name }, 'removing stale ingest lock');
        await rm(p.lock, { force: true });
      }
    }
  }

  // ------------------------------------------------------------------ blobs

  async info(digest: string): Promise<BlobInfo> {
    const hex = digestHex(digest);
    try {
      const st = await stat(this.layout.blob(hex));
      return { digest, size: st.size };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(`content ${digest}`);
      throw ioError(`stat content ${digest}`, err);
    }
  }

  async *read(digest: string, offset = 0, size = 0): AsyncGenerator<Uint8Array> {
    const hex = digestHex(digest);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) offset = 0;
    if (typeof size !== 'number' || !Number.isSafeInteger(size)) size = 0;
    let fh: FileHandle;
    try {
      fh = await open(this.layout.blob(hex), 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(`content ${digest}`);
      throw ioError(`open content ${digest}`, err);
    }
    let pending: Promise<Uint8Array> | undefined;
    try {
      const length = (await fh.stat()).size;
      // containerd's Content.Read: a negative offset reads from 0; past the end is OutOfRange; a size
      // of 0 (or one reaching past the end) reads to the end.
      let pos = Math.max(0, offset);
      if (pos > length) throw kindError(Code.OutOfRange, `read past object length ${length} bytes`);
      const end = size > 0 && pos + size < length ? pos + size : length;
      // Two buffers, reused: one is with the consumer while the other is being filled. Fresh
      // buffers for every chunk cost a fifth of the process in garbage collection.
      const bufs = [Buffer.allocUnsafe(Math.min(READ_CHUNK, end - pos)), Buffer.allocUnsafe(Math.min(READ_CHUNK, end - pos))];
      let turn = 0;
      const readAt = (at: number) => readChunk(fh, bufs[turn++ & 1] as Buffer, at, Math.min(READ_CHUNK, end - at));
      // One read ahead: the disk works while the consumer handles the previous chunk.
      pending = pos < end ? readAt(pos) : undefined;
      while (pending) {
        const chunk = await pending;
        pending = undefined;
        if (chunk.length === 0) throw kindError(Code.DataLoss, `content ${digest} shrank while being read`);
        pos += chunk.length;
        if (pos < end) pending = readAt(pos);
        yield chunk;
      }
    } finally {
      await pending?.catch(() => undefined);
      await fh.close().catch(() => undefined);
    }
  }

  async delete(digest: string): Promise<void> {
    const hex = digestHex(digest);
    try {
      await unlink(this.layout.blob(hex));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(`content ${digest}`);
      throw ioError(`delete content ${digest}`, err);
    }
  }

  async *walk(): AsyncGenerator<BlobInfo> {
    for (const name of await readdir(this.layout.blobDir)) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      try {
        const st = await stat(this.layout.blob(name));
        if (st.isFile()) yield { digest: `sha256:${name}`, size: st.size };
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw ioError(`stat blob ${name}`, err);
      }
    }
  }

  // ------------------------------------------------------------------ ingests

  async status(namespace: string, ref: string): Promise<IngestStatus> {
    validateNamespace(namespace);
    validateRef(ref);
    const p = this.layout.ingest(ContentLayout.ingestKey(namespace, ref));
    const st = await this.readIngest(p).catch((err) => {
      throw isErrno(err, 'ENOENT') ? notFound(`ingest ref ${JSON.stringify(ref)}`) : ioError(`status of ingest ref ${JSON.stringify(ref)}`, err);
    });
    if (st.ref !== ref || st.namespace !== namespace) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
    return withoutNamespace(st);
  }

  async listStatuses(namespace: string, filters: string[] = []): Promise<IngestStatus[]> {
    validateNamespace(namespace);
    const filter = parseFilters(filters);
    const out: IngestStatus[] = [];
    for (const name of await readdir(this.layout.ingestRoot)) {
      if (!isIngestKey(name)) continue;
      let st: StoredIngest;
      try {
        st = await this.readIngest(this.layout.ingest(name));
      } catch {
        // Being committed or aborted right now, or not fully created yet: not an ingest to show.
        continue;
      }
      if (st.namespace !== namespace) continue;
      if (filter.match(adaptObject({ ref: st.ref }))) out.push(withoutNamespace(st));
    }
    return out.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  async abort(namespace: string, ref: string): Promise<void> {
    validateNamespace(namespace);
    validateRef(ref);
    const p = this.layout.ingest(ContentLayout.ingestKey(namespace, ref));
    const ns = await readFile(p.namespace, 'utf8').catch(() => undefined);
    const storedRef = await readFile(p.ref, 'utf8').catch(() => undefined);
    if (storedRef !== ref || ns !== namespace) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
    const remove = () => this.removeIngest(p);
    const active = this.writers.get(p.dir);
    try {
      await (active ? active.invalidate(remove) : remove());
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
      throw ioError(`abort ingest ref ${JSON.stringify(ref)}`, err);
    }
  }

  async open(namespace: string, ref: string, opts: OpenOptions = {}): Promise<ContentWriter> {
    validateNamespace(namespace);
    validateRef(ref);
    let total = optionalSize(opts.total, 'total');
    const expected = opts.expected || undefined;
    if (expected !== undefined) {
      digestHex(expected);
      const existing = await this.info(expected).catch(() => undefined);
      if (existing) {
        if (total > 0 && total !== existing.size) {
          throw failedPrecondition(`content ${expected} exists with size ${existing.size}, not the announced ${total}`);
        }
        throw kindError(Code.AlreadyExists, `content ${expected}`);
      }
    }
    const p = this.layout.ingest(ContentLayout.ingestKey(namespace, ref));
    await mkdir(p.dir, { recursive: true, mode: 0o755 }).catch((err) => {
      throw ioError(`create ingest ref ${JSON.stringify(ref)}`, err);
    });
    const lock = await acquireIngestLock(p.lock, ref);
    try {
      let resumed: StoredIngest | undefined;
      try {
        resumed = await this.readIngest(p);
      } catch {
        resumed = undefined;
      }
      // containerd recreates an ingest whose ref does not match or whose total disagrees.
      if (resumed && (resumed.ref !== ref || resumed.namespace !== namespace || (total > 0 && resumed.total > 0 && total !== resumed.total))) {
        this.log.info({ ref, namespace }, 'ingest does not match its ref or total; starting it again');
        resumed = undefined;
      }
      const now = Date.now();
      let fh: FileHandle;
      const hash = createHash('sha256');
      let offset = 0;
      let startedAt = now;
      let updatedAt = now;
      let exp = expected;
      if (resumed) {
        fh = await open(p.data, constants.O_RDWR);
        try {
          offset = await rehash(fh, hash);
        } catch (err) {
          await fh.close();
          throw err;
        }
        startedAt = resumed.startedAt;
        updatedAt = resumed.updatedAt;
        if (resumed.total > 0) total = resumed.total;
        else if (total > 0) await writeFile(p.total, String(total));
        if (exp === undefined) exp = resumed.expected;
        else if (exp !== resumed.expected) await writeFile(p.expected, exp);
      } else {
        await rm(p.data, { force: true });
        await writeFile(p.ref, ref);
        await writeFile(p.namespace, namespace);
        await writeFile(p.startedat, new Date(now).toISOString());
        await writeFile(p.updatedat, new Date(now).toISOString());
        if (total > 0) await writeFile(p.total, String(total));
        else await rm(p.total, { force: true });
        if (exp) await writeFile(p.expected, exp);
        else await rm(p.expected, { force: true });
        // `data` last: an ingest is listed once its data file exists.
        fh = await open(p.data, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o644);
      }
      const w = new LocalWriter(this, { ref, paths: p, fh, hash, offset, total, expected: exp, startedAt, updatedAt, lock });
      this.writers.set(p.dir, w);
      return w;
    } catch (err) {
      await lock.release();
      throw ioError(`open ingest ref ${JSON.stringify(ref)}`, err);
    }
  }

  // ------------------------------------------------------------------ WriterHost

  blobPath(hex: string): string {
    return this.layout.blob(hex);
  }

  async syncBlobDir(): Promise<void> {
    const d = await open(this.layout.blobDir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  async removeIngest(p: IngestPaths): Promise<void> {
    // Rename first so the ingest disappears at once, even if the removal is cut short.
    const grave = this.layout.graveyard(p.dir.slice(this.layout.ingestRoot.length + 1), randomUUID());
    await rename(p.dir, grave);
    await rm(grave, { recursive: true, force: true });
  }

  async writeUpdatedAt(p: IngestPaths, at: number): Promise<void> {
    const tmp = `${p.updatedat}.tmp`;
    await writeFile(tmp, new Date(at).toISOString());
    await rename(tmp, p.updatedat);
  }

  detach(w: LocalWriter): void {
    for (const [k, v] of this.writers) if (v === w) this.writers.delete(k);
  }

  /** Closes every open writer (their ingests stay resumable). */
  async close(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.close().catch(() => undefined)));
  }

  /** Reads an ingest's files; rejects (ENOENT or a parse error) when it is not a complete ingest. */
  private async readIngest(p: IngestPaths): Promise<StoredIngest> {
    const st = await stat(p.data);
    const [ref, namespace, startedat, updatedat, total, expected] = await Promise.all([
      readFile(p.ref, 'utf8'),
      readFile(p.namespace, 'utf8').catch(() => ''),
      readFile(p.startedat, 'utf8'),
      readFile(p.updatedat, 'utf8'),
      readFile(p.total, 'utf8').catch(() => ''),
      readFile(p.expected, 'utf8').catch(() => ''),
    ]);
    const startedAt = Date.parse(startedat.trim());
    const updated = Date.parse(updatedat.trim());
    if (Number.isNaN(startedAt) || Number.isNaN(updated)) throw new Error(`bad timestamps in ${p.dir}`);
    const t = Number(total.trim());
    const e = expected.trim();
    return {
      ref,
      namespace,
      offset: st.size,
      total: Number.isSafeInteger(t) && t > 0 ? t : 0,
      ...(isDigest(e) ? { expected: e } : {}),
      startedAt,
      // updatedat is refreshed on close only; the data file's mtime may be newer.
      updatedAt: Math.max(updated, Math.floor(st.mtimeMs)),
    };
  }
}

function withoutNamespace(st: StoredIngest): IngestStatus {
  const { namespace: _ns, ...rest } = st;
  return rest;
}

/** Reads `len` bytes at `at` into `into` (fewer only at end of file); returns the filled part. */
async function readChunk(fh: FileHandle, into: Buffer, at: number, len: number): Promise<Uint8Array> {
  const buf = into.subarray(0, len);
  let n = 0;
  while (n < len) {
    const { bytesRead } = await fh.read(buf, n, len - n, at + n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n < len ? buf.subarray(0, n) : buf;
}

/** Feeds the whole file to `hash`; returns its length (the resume offset). */
async function rehash(fh: FileHandle, hash: ReturnType<typeof createHash>): Promise<number> {
  const buf = Buffer.allocUnsafe(REHASH_CHUNK);
  let pos = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) return pos;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
}
