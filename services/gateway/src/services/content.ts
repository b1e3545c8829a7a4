/**
 * containerd.services.content.v1.Content: records (Info/Update/List/Delete) from the metadata
 * service, bytes (Read/Write/Status/ListStatuses/Abort) from the content service.
 */
import type * as grpc from '@grpc/grpc-js';
import { Code, codeOf, invalidArgument } from '@flotilla/api';
import { MAX_CHUNK, type Duplex } from '@flotilla/bus';
import type { ReadChunk, WireStatus, WriteResponse } from '@flotilla/content';
import { ContentRecordsClient, type ContentInfo } from '@flotilla/metadata';
import { busOptions, requireNamespace, retryIdempotent } from '../call-options.js';
import type { GatewayContext } from '../gateway-context.js';
import { failStream, unary } from '../status.js';
import { toTimestamp } from '../timestamp.js';
import { readMessages, writeAll } from '../stream-write.js';

type Call = grpc.ServerUnaryCall<any, any>;
/** Infos per List response message. */
const LIST_BATCH = 100;
const ACTIONS = ['stat', 'write', 'commit'] as const;

type IngestStatus = WireStatus;
type WriteReply = Partial<WriteResponse> & Pick<WriteResponse, 'action'>;

const infoMessage = (i: ContentInfo) => ({
  digest: i.digest,
  size: i.size,
  created_at: toTimestamp(i.created_at),
  updated_at: toTimestamp(i.updated_at),
  labels: i.labels,
});

const statusMessage = (s: IngestStatus) => ({
  ref: s.ref,
  offset: s.offset,
  total: s.total,
  expected: s.expected ?? '',
  started_at: toTimestamp(s.started_at),
  updated_at: toTimestamp(s.updated_at),
});

/** Digests the content service can read (anything else: the stream path reports the error). */
const digestPattern = /^sha256:[0-9a-f]{64}$/;

/** `content.ReadAt`: up to MAX_CHUNK bytes at `offset` (fewer at the end of the blob). */
async function readAt(g: GatewayContext, digest: string, offset: number, size: number, o: ReturnType<typeof busOptions>): Promise<Buffer> {
  const r = await retryIdempotent(o.deadline, () => g.bus.call<{ data: Uint8Array }>('content', 'ReadAt', { digest, offset, size }, o));
  return Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
}

/** The Content service implementation. */
export function contentService(g: GatewayContext) {
  const records = (call: AnyCall) => {
    const ns = requireNamespace(call);
    const o = busOptions(call, g.config.defaultTimeoutMs);
    return { ns, store: new ContentRecordsClient(g.bus, () => o), o };
  };
  return {
    Info: unary(g.log, 'Content.Info', async (req: { digest: string }, call) => {
      const { ns, store, o } = records(call);
      return { info: infoMessage(await retryIdempotent(o.deadline, () => store.info(ns, req.digest))) };
    }),
    Update: unary(g.log, 'Content.Update', async (req: { info?: { digest?: string; labels?: Record<string, string> }; update_mask?: { paths?: string[] } }, call) => {
      const { ns, store } = records(call);
      const info = { digest: req.info?.digest ?? '', labels: req.info?.labels ?? {} };
      return { info: infoMessage(await store.update(ns, info, req.update_mask?.paths ?? [])) };
    }),
    List: (call: grpc.ServerWritableStream<{ filters?: string[] }, unknown>) => {
      void (async () => {
        const { ns, store, o } = records(call);
        const infos = await retryIdempotent(o.deadline, () => store.list(ns, call.request.filters ?? []));
        for (let i = 0; i < infos.length; i += LIST_BATCH) await writeAll(call, { info: infos.slice(i, i + LIST_BATCH).map(infoMessage) });
        call.end();
      })().catch((err) => failStream(call, err));
    },
    Delete: unary(g.log, 'Content.Delete', async (req: { digest: string }, call) => {
      const { ns, store } = records(call);
      await store.delete(ns, req.digest);
      return {};
    }),
    Read: (call: grpc.ServerWritableStream<{ digest: string; offset?: string | number; size?: string | number }, unknown>) => {
      void (async () => {
        const { ns, store, o } = records(call);
        const digest = call.request.digest;
        const offset = Number(call.request.offset ?? 0);
        const size = Number(call.request.size ?? 0);
        // The first chunk is asked for together with the namespace check, so a small read (most
        // of ctr's: manifests, configs, indexes) takes one round trip; its bytes are dropped
        // unless the blob is visible in the namespace.
        const speculate = offset >= 0 && size >= 0 && digestPattern.test(digest);
        const first = speculate ? readAt(g, digest, offset, Math.min(size || MAX_CHUNK, MAX_CHUNK), o) : undefined;
        first?.catch(() => undefined);
        const info = await retryIdempotent(o.deadline, () => store.info(ns, digest)); // visible in this namespace?
        if (offset < 0 || size < 0) throw invalidArgument('offset and size must not be negative');
        const rest = info.size - offset;
        let pos = offset;
        let left = size ? Math.min(size, rest) : rest;
        if (first && rest >= 0 && left > 0) {
          const data = await first;
          const head = data.subarray(0, Math.min(left, data.length));
          await writeAll(call, { offset: pos, data: head });
          pos += head.length;
          left -= head.length;
        }
        if (!first || rest < 0 || left > 0) {
          const stream = g.bus.openStream<never, ReadChunk>('content', 'Read', { digest, offset: pos, size: first && rest >= 0 ? left : size || undefined }, { ...o, timeoutMs: 0 });
          call.once('cancelled', () => stream.cancel());
          for await (const chunk of stream) await writeAll(call, { offset: chunk.offset, data: Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength) });
        }
        call.end();
      })().catch((err) => failStream(call, err));
    },
    Status: unary(g.log, 'Content.Status', async (req: { ref: string }, call) => {
      requireNamespace(call);
      const o = busOptions(call, g.config.defaultTimeoutMs);
      const r = await g.bus.call<{ status: IngestStatus }>('content', 'Status', { ref: req.ref }, o);
      return { status: statusMessage(r.status) };
    }),
    ListStatuses: unary(g.log, 'Content.ListStatuses', async (req: { filters?: string[] }, call) => {
      requireNamespace(call);
      const o = busOptions(call, g.config.defaultTimeoutMs);
      const r = await retryIdempotent(o.deadline, () => g.bus.call<{ statuses: IngestStatus[] }>('content', 'ListStatuses', { filters: req.filters ?? [] }, o));
      return { statuses: r.statuses.map(statusMessage) };
    }),
    Abort: unary(g.log, 'Content.Abort', async (req: { ref: string }, call) => {
      requireNamespace(call);
      await g.bus.call('content', 'Abort', { ref: req.ref }, busOptions(call, g.config.defaultTimeoutMs));
      return {};
    }),
    Write: (call: grpc.ServerDuplexStream<WriteRequest, unknown>) => {
      void serveWrite(g, call).catch((err) => {
        if (codeOf(err) !== Code.Canceled) g.log.debug({ err }, 'content write failed');
        failStream(call, err);
      });
    },
  };
}

type AnyCall = grpc.ServerUnaryCall<any, any> | grpc.ServerWritableStream<any, any> | grpc.ServerDuplexStream<any, any>;

/** A Content.Write request message (proto field names). */
interface WriteRequest {
  action?: number;
  ref?: string;
  total?: string | number;
  expected?: string;
  offset?: string | number;
  data?: Buffer;
  labels?: Record<string, string>;
}

/**
 * Lock-step Write: every request gets exactly one response. Data larger than a bus chunk is split
 * into several bus writes and answered once with the final offset.
 */
async function serveWrite(g: GatewayContext, call: grpc.ServerDuplexStream<WriteRequest, unknown>): Promise<void> {
  requireNamespace(call);
  const o = busOptions(call, g.config.defaultTimeoutMs);
  let stream: Duplex<Record<string, unknown>, WriteReply> | undefined;
  // The opening message of the bus stream is the first request; it is answered like the others.
  const ask = async (msg: Record<string, unknown>): Promise<WriteReply> => {
    if (!stream) {
      stream = g.bus.openStream('content', 'Write', msg, { ...o, timeoutMs: 0, duplex: true });
      call.once('cancelled', () => stream?.cancel());
    } else await stream.send(msg);
    const r = await stream.recv();
    if (!r) throw invalidArgument('content write stream ended early');
    return r;
  };
  try {
    for await (const req of readMessages<WriteRequest>(call)) {
      const action = ACTIONS[req.action ?? 0];
      if (!action) throw invalidArgument(`unknown write action ${req.action}`);
      const base = {
        action,
        ref: req.ref ?? '',
        total: Number(req.total ?? 0) || undefined,
        expected: req.expected || undefined,
        labels: req.labels && Object.keys(req.labels).length > 0 ? req.labels : undefined,
      };
      if (!stream && !base.ref) throw invalidArgument('first message must have a reference');
      let reply: WriteReply;
      if (action === 'write') {
        const data = req.data ?? Buffer.alloc(0);
        let offset = Number(req.offset ?? 0);
        reply = { action: 'write' };
        let pos = 0;
        do {
          const part = data.subarray(pos, pos + MAX_CHUNK);
          reply = await ask({ ...base, offset, data: part });
          offset += part.length;
          pos += part.length;
        } while (pos < data.length);
      } else {
        reply = await ask({ ...base, offset: Number(req.offset ?? 0) });
      }
      await writeAll(call, {
        action: ACTIONS.indexOf(reply.action),
        started_at: toTimestamp(reply.started_at ?? 0),
        updated_at: toTimestamp(reply.updated_at ?? 0),
        offset: reply.offset ?? 0,
        total: reply.total ?? 0,
        digest: reply.digest ?? '',
      });
    }
  } finally {
    stream?.end();
  }
  call.end();
}
