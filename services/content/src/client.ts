/** The content service's interfaces over the bus (used by the gateway, the snapshotter's differ, …). */
import { Code, kindError, unavailable } from '@flotilla/api';
import { DEFAULT_WINDOW, MAX_CHUNK, ServiceClient, type Bus, type CallOptions, type Duplex, type StreamOptions } from '@flotilla/bus';
import {
  CONTENT_SERVICE,
  type ContentContract,
  type ReadChunk,
  type ReadRequest,
  type WireStatus,
  type WriteRequest,
  type WriteResponse,
} from './protocol.js';
import type { BlobInfo, CommitOptions, ContentBackend, ContentWriter, IngestStatus, OpenOptions } from './types.js';

/**
 * How many Write messages the client keeps in flight before it waits for their replies: the
 * server's receive window (bus DEFAULT_WINDOW), which is also the most credit allows. The replies
 * still come one per message, in order; only the waiting overlaps.
 */
const PIPELINE = DEFAULT_WINDOW;

/** An ingest status from the wire. */
export function fromWireStatus(s: WireStatus): IngestStatus {
  return {
    ref: s.ref,
    offset: s.offset,
    total: s.total ?? 0,
    ...(s.expected ? { expected: s.expected } : {}),
    startedAt: s.started_at,
    updatedAt: s.updated_at,
  };
}

/** ContentBackend served by a remote content process. */
export class ContentClient implements ContentBackend {
  private readonly c: ServiceClient<ContentContract>;

  /** `opts` gives the options of every call (lease, deadline, request id); namespaces come from the arguments. */
  constructor(
    readonly bus: Bus,
    private readonly opts: () => CallOptions = () => ({}),
  ) {
    this.c = new ServiceClient<ContentContract>(bus, CONTENT_SERVICE);
  }

  async info(digest: string): Promise<BlobInfo> {
    const r = await this.c.call('Info', { digest }, this.opts());
    return { digest: r.digest, size: r.size };
  }

  async *read(digest: string, offset = 0, size = 0): AsyncGenerator<Uint8Array> {
    const stream = this.openReadStream({ digest, offset, size });
    let next = Math.max(0, offset);
    let complete = false;
    try {
      for await (const chunk of stream) {
        if (chunk.offset !== next) throw kindError(Code.DataLoss, `content ${digest}: chunk at ${chunk.offset}, expected ${next}`);
        next += chunk.data.length;
        yield chunk.data;
      }
      complete = true;
    } finally {
      // A consumer that stops early cancels the rest.
      if (!complete) stream.cancel();
    }
  }

  async status(namespace: string, ref: string): Promise<IngestStatus> {
    return fromWireStatus((await this.c.call('Status', { ref }, this.withNamespace(namespace))).status);
  }

  async listStatuses(namespace: string, filters: string[] = []): Promise<IngestStatus[]> {
    return (await this.c.call('ListStatuses', { filters }, this.withNamespace(namespace))).statuses.map(fromWireStatus);
  }

  async abort(namespace: string, ref: string): Promise<void> {
    await this.c.call('Abort', { ref }, this.withNamespace(namespace));
  }

  async delete(digest: string): Promise<void> {
    await this.c.call('Delete', { digest }, this.opts());
  }

  async *walk(): AsyncGenerator<BlobInfo> {
    for await (const b of this.bus.openStream<never, BlobInfo>(CONTENT_SERVICE, 'Walk', {}, { ...this.opts(), timeoutMs: 0 })) {
      yield { digest: b.digest, size: b.size };
    }
  }

  async open(namespace: string, ref: string, opts: OpenOptions = {}): Promise<ContentWriter> {
    const first: WriteRequest = { action: 'stat', ref, total: opts.total || undefined, expected: opts.expected || undefined };
    const stream = this.openWriteStream(first, this.withNamespace(namespace));
    let stat: WriteResponse | undefined;
    try {
      stat = await stream.recv();
    } catch (err) {
      stream.cancel();
      throw err;
    }
    if (!stat) throw unavailable(`content.Write: stream ended without a status for ref ${ref}`);
    return new RemoteWriter(stream, ref, stat, opts.expected);
  }

  /**
   * The raw `Write` stream (lock-step: one reply per message) for callers that relay containerd's
   * `Content.Write` message by message, such as the gateway. `first` is the first message.
   */
  openWriteStream(first: WriteRequest, opts: CallOptions = this.opts()): Duplex<WriteRequest, WriteResponse> {
    return this.bus.openStream<WriteRequest, WriteResponse>(CONTENT_SERVICE, 'Write', first, { timeoutMs: 0, ...opts, duplex: true } satisfies StreamOptions);
  }

  /** The raw `Read` stream: `{offset, data}` chunks of at most 512 KiB. */
  openReadStream(req: ReadRequest, opts: CallOptions = this.opts()): Duplex<never, ReadChunk> {
    return this.bus.openStream<never, ReadChunk>(CONTENT_SERVICE, 'Read', req, { timeoutMs: 0, ...opts });
  }

  private withNamespace(namespace: string): CallOptions {
    return { ...this.opts(), namespace };
  }
}

/** A writer over one `Write` stream. */
class RemoteWriter implements ContentWriter {
  private st: IngestStatus;
  private last: string;
  private finished = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly stream: Duplex<WriteRequest, WriteResponse>,
    readonly ref: string,
    stat: WriteResponse,
    expected: string | undefined,
  ) {
    this.st = {
      ref,
      offset: stat.offset,
      total: stat.total ?? 0,
      ...(expected ? { expected } : {}),
      startedAt: stat.started_at,
      updatedAt: stat.updated_at,
    };
    this.last = stat.digest ?? '';
  }

  status(): IngestStatus {
    return { ...this.st };
  }

  digest(): string {
    return this.last;
  }

  write(offset: number, data: Uint8Array): Promise<number> {
    return this.serial(() => this.doWrite(offset, data));
  }

  commit(opts: CommitOptions = {}): Promise<BlobInfo> {
    return this.serial(async () => {
      const size = opts.size || 0;
      const r = await this.exchange({
        action: 'commit',
        offset: this.st.offset,
        total: size || undefined,
        expected: opts.expected || undefined,
        labels: opts.labels,
      });
      this.finished = true;
      this.stream.end();
      // containerd's remote writer checks what the server committed.
      if (size > 0 && r.offset !== size) throw kindError(Code.FailedPrecondition, `unexpected size: ${r.offset} != ${size}`);
      if (opts.expected && r.digest !== opts.expected) throw kindError(Code.FailedPrecondition, `unexpected digest: ${r.digest} != ${opts.expected}`);
      return { digest: r.digest ?? '', size: r.offset };
    });
  }

  close(): Promise<void> {
    return this.serial(async () => {
      if (this.finished) return;
      this.finished = true;
      this.stream.end();
      await this.stream.done;
    });
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async exchange(req: WriteRequest): Promise<WriteResponse> {
    if (this.finished) throw kindError(Code.FailedPrecondition, `writer of ref ${JSON.stringify(this.ref)} is closed`);
    await this.stream.send(req);
    const r = await this.stream.recv();
    if (!r) throw unavailable(`content.Write: stream ended early for ref ${this.ref}`);
    this.update(r);
    return r;
  }

  private update(r: WriteResponse): void {
    this.st.offset = r.offset;
    if (r.total) this.st.total = r.total;
    if (r.updated_at) this.st.updatedAt = r.updated_at;
    if (r.digest) this.last = r.digest;
  }

  /** Sends `data` in chunks of at most 512 KiB, several in flight, and checks every reply's offset. */
  private async doWrite(offset: number, data: Uint8Array): Promise<number> {
    if (this.finished) throw kindError(Code.FailedPrecondition, `writer of ref ${JSON.stringify(this.ref)} is closed`);
    if (data.length === 0) {
      await this.exchange({ action: 'write', offset });
      return this.st.offset;
    }
    const ends: number[] = [];
    for (let at = 0; at < data.length; at += MAX_CHUNK) ends.push(offset + Math.min(at + MAX_CHUNK, data.length));
    let inflight = 0;
    let stop = false;
    let wake: (() => void) | undefined;
    const receiving = (async () => {
      for (const end of ends) {
        const r = await this.stream.recv();
        if (!r) throw unavailable(`content.Write: stream ended early for ref ${this.ref}`);
        // containerd's remote writer: a reply short of the bytes sent is a short write.
        if (r.offset !== end) throw kindError(Code.DataLoss, `short write: ingest at ${r.offset} after writing up to ${end}`);
        this.update(r);
        inflight--;
        wake?.();
      }
    })().finally(() => {
      stop = true;
      wake?.();
    });
    const sending = (async () => {
      for (let i = 0; i < ends.length; i++) {
        while (inflight >= PIPELINE && !stop) await new Promise<void>((r) => (wake = r));
        if (stop) return;
        const start = i * MAX_CHUNK;
        inflight++;
        await this.stream.send({ action: 'write', offset: offset + start, data: data.subarray(start, start + MAX_CHUNK) });
      }
    })();
    const [recv, sent] = await Promise.allSettled([receiving, sending]);
    // The server's error (seen by the receiver) explains a failed send better than the send does.
    if (recv.status === 'rejected') {
      this.stream.cancel();
      throw recv.reason;
    }
    if (sent.status === 'rejected') throw sent.reason;
    return this.st.offset;
  }
}
