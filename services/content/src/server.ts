/**
 * Bus adapter of the content service: decode, validate, call the backend, encode. The `Write`
 * stream follows containerd's `Content.Write` service (`contentserver.go`) and, on commit, registers
 * the blob in the caller's namespace and lease through metadata before it acknowledges.
 */
import { Code, failedPrecondition, invalidArgument, isCode, validateLabels, kindError } from '@flotilla/api';
import { MAX_CHUNK, forwardOptions, type Bus, type CallContext, type Duplex, type StreamHandler, type UnaryHandler } from '@flotilla/bus';
import { digestHex, optionalSize, validateNamespace, validateRef } from './names.js';
import {
  CONTENT_SERVICE,
  REGISTER_SERVICE,
  REGISTER_METHOD,
  type ContentContract,
  type ReadChunk,
  type ReadRequest,
  type RegisterRequest,
  type WireStatus,
  type WriteAction,
  type WriteRequest,
  type WriteResponse,
} from './protocol.js';
import type { BlobInfo, ContentBackend, ContentWriter, IngestStatus } from './types.js';

type Unary = { [M in keyof ContentContract]: UnaryHandler<ContentContract[M]['req'], ContentContract[M]['res']> };

const ACTIONS: ReadonlySet<string> = new Set<WriteAction>(['stat', 'write', 'commit']);
const EMPTY = new Uint8Array(0);

/** The caller's namespace: FailedPrecondition `namespace is required` when absent. */
function requireNamespace(ctx: CallContext): string {
  if (!ctx.namespace) throw failedPrecondition('namespace is required');
  return validateNamespace(ctx.namespace);
}

function body<T extends object>(req: unknown): Partial<T> {
  if (req === undefined || req === null) return {};
  if (typeof req !== 'object' || Array.isArray(req)) throw invalidArgument('request must be a map');
  return req as Partial<T>;
}

/** An ingest status on the wire. */
export function toWireStatus(s: IngestStatus): WireStatus {
  return {
    ref: s.ref,
    offset: s.offset,
    total: s.total,
    ...(s.expected ? { expected: s.expected } : {}),
    started_at: s.startedAt,
    updated_at: s.updatedAt,
  };
}

function stringList(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw invalidArgument(`${field} must be a list of strings`);
  return v as string[];
}

/** Registers committed blobs in a namespace through metadata. */
export type Registrar = (blob: BlobInfo, labels: Record<string, string> | undefined, exclusive: boolean, ctx: CallContext) => Promise<void>;

/** The registrar that calls metadata's `Content.Register` with the call's namespace, lease and remaining time. */
export function metadataRegistrar(bus: Bus): Registrar {
  return async (blob, labels, exclusive, ctx) => {
    const req: RegisterRequest = { digest: blob.digest, size: blob.size, exclusive, ...(labels ? { labels } : {}) };
    await bus.call(REGISTER_SERVICE, REGISTER_METHOD, req, forwardOptions(ctx));
  };
}

/** The unary handlers over `backend`. */
export function contentUnaryHandlers(backend: ContentBackend): Unary {
  return {
    Status: async (req, ctx) => {
      const ns = requireNamespace(ctx);
      return { status: toWireStatus(await backend.status(ns, validateRef(body<{ ref: string }>(req).ref))) };
    },
    ListStatuses: async (req, ctx) => {
      const ns = requireNamespace(ctx);
      const filters = stringList(body<{ filters: string[] }>(req).filters, 'filters');
      return { statuses: (await backend.listStatuses(ns, filters)).map(toWireStatus) };
    },
    Abort: async (req, ctx) => {
      const ns = requireNamespace(ctx);
      await backend.abort(ns, validateRef(body<{ ref: string }>(req).ref));
      return {};
    },
    Info: async (req) => {
      const digest = body<{ digest: string }>(req).digest;
      digestHex(digest);
      const info = await backend.info(digest as string);
      return { digest: info.digest, size: info.size };
    },
    ReadAt: async (req) => {
      const r = body<ReadRequest>(req);
      digestHex(r.digest);
      const offset = optionalSize(r.offset, 'offset');
      const size = optionalSize(r.size, 'size');
      if (size < 1 || size > MAX_CHUNK) throw invalidArgument(`size must be from 1 to ${MAX_CHUNK}, got ${size}`);
      const parts: Uint8Array[] = [];
      for await (const data of backend.read(r.digest as string, offset, size)) parts.push(data);
      return { data: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
    },
    Delete: async (req) => {
      const digest = body<{ digest: string }>(req).digest;
      digestHex(digest);
      await backend.delete(digest as string);
      return {};
    },
  };
}

/** The stream handlers over `backend`; committed blobs are registered with `register`. */
export function contentStreamHandlers(backend: ContentBackend, register: Registrar): Record<string, StreamHandler> {
  return {
    Write: (req: unknown, stream: Duplex<WriteResponse, WriteRequest>, ctx: CallContext) => serveWrite(backend, register, req, stream, ctx),
    Read: async (req: unknown, stream: Duplex<ReadChunk, unknown>) => {
      const r = body<ReadRequest>(req);
      digestHex(r.digest);
      let offset = optionalSize(r.offset, 'offset');
      const size = optionalSize(r.size, 'size');
      for await (const data of backend.read(r.digest as string, offset, size)) {
        await stream.send({ offset, data });
        offset += data.length;
      }
    },
    Walk: async (_req: unknown, stream: Duplex<BlobInfo, unknown>) => {
      for await (const b of backend.walk()) await stream.send({ digest: b.digest, size: b.size });
    },
  };
}

/**
 * containerd's "shared" content policy: when the announced digest already exists in the backend,
 * record it in the caller's namespace (non-exclusively) and end the write with AlreadyExists, which
 * clients take as success. Returns normally when the blob is absent.
 */
async function shareExisting(backend: ContentBackend, register: Registrar, expected: string, total: number, ctx: CallContext): Promise<void> {
  let existing: BlobInfo;
  try {
    existing = await backend.info(expected);
  } catch (err) {
    if (isCode(err, Code.NotFound)) return;
    throw err;
  }
  if (total > 0 && total !== existing.size) {
    throw failedPrecondition(`content ${expected} exists with size ${existing.size}, not the announced ${total}`);
  }
  await register(existing, undefined, false, ctx);
  throw kindError(Code.AlreadyExists, `content ${expected}`);
}

async function serveWrite(
  backend: ContentBackend,
  register: Registrar,
  first: unknown,
  stream: Duplex<WriteResponse, WriteRequest>,
  ctx: CallContext,
): Promise<void> {
  const ns = requireNamespace(ctx);
  let req = body<WriteRequest>(first);
  if (req.ref === undefined || req.ref === '') throw invalidArgument('first message must have a reference');
  const ref = validateRef(req.ref);
  let total = optionalSize(req.total, 'total');
  let expected: string | undefined;
  let writer: ContentWriter | undefined;
  try {
    for (let n = 0; ; n++) {
      const action = req.action ?? 'stat';
      if (typeof action !== 'string' || !ACTIONS.has(action)) throw invalidArgument(`unknown write action ${JSON.stringify(action)}`);
      if (req.expected !== undefined && req.expected !== null && req.expected !== '') {
        digestHex(req.expected);
        expected = req.expected;
        // Checked when the writer opens and on later messages that name a digest, as containerd
        // does — except a commit, which verifies the bytes and then links an existing blob into
        // the namespace with its labels (see commitAndRegister).
        if (!writer) await shareExisting(backend, register, expected, total, ctx);
        else if (action !== 'commit') {
          try {
            await shareExisting(backend, register, expected, total, ctx);
          } catch (err) {
            if (isCode(err, Code.AlreadyExists)) {
              // containerd aborts the ingest it had started.
              const w = writer;
              writer = undefined;
              await w.close();
              await backend.abort(ns, ref).catch(() => undefined);
            }
            throw err;
          }
        }
      }
      if (n > 0 && req.total !== undefined && req.total !== null) {
        const t = optionalSize(req.total, 'total');
        if (t > 0) total = t;
      }
      if (!writer) {
        try {
          writer = await backend.open(ns, ref, { total, expected });
        } catch (err) {
          // Raced with another writer committing the same digest: share it like above.
          if (expected && isCode(err, Code.AlreadyExists)) await shareExisting(backend, register, expected, total, ctx);
          throw err;
        }
      }
      let reply: WriteResponse;
      if (action === 'stat') {
        reply = response(action, writer, total);
      } else {
        const data = req.data ?? EMPTY;
        if (!(data instanceof Uint8Array)) throw invalidArgument('data must be bytes');
        const current = writer.status().offset;
        const offset = req.offset === undefined || req.offset === null ? current : optionalSize(req.offset, 'offset');
        if (data.length > 0 || offset !== current) await writer.write(offset, data);
        if (action === 'commit') {
          const labels = req.labels ?? undefined;
          if (labels !== undefined && (typeof labels !== 'object' || Array.isArray(labels))) throw invalidArgument('labels must be a map');
          validateLabels(labels);
          const blob = await commitAndRegister(writer, register, { size: total, expected, labels }, ctx);
          reply = { ...response(action, writer, total), offset: blob.size, digest: blob.digest };
        } else reply = response(action, writer, total);
      }
      await stream.send(reply);
      if (action === 'commit') return;
      const next = await stream.recv();
      if (next === undefined) return;
      req = body<WriteRequest>(next);
    }
  } finally {
    await writer?.close();
  }
}

function response(action: WriteAction, w: ContentWriter, total: number): WriteResponse {
  const s = w.status();
  return { action, started_at: s.startedAt, updated_at: s.updatedAt, offset: s.offset, total: total || s.total, digest: w.digest() };
}

/**
 * Commits, then registers in the caller's namespace before the caller hears of it. A blob already
 * in the backend is linked into the namespace instead (containerd's metadata writer ignores the
 * backend's AlreadyExists): the caller gets AlreadyExists only when its namespace had it already.
 */
async function commitAndRegister(
  writer: ContentWriter,
  register: Registrar,
  opts: { size: number; expected?: string; labels?: Record<string, string> },
  ctx: CallContext,
): Promise<BlobInfo> {
  let blob: BlobInfo;
  try {
    blob = await writer.commit(opts);
  } catch (err) {
    if (!isCode(err, Code.AlreadyExists)) throw err;
    blob = { digest: writer.digest(), size: writer.status().offset };
  }
  await register(blob, opts.labels, true, ctx);
  return blob;
}

/** Serves the content service on the bus; commits are registered through metadata on the same bus. */
export function serveContent(bus: Bus, backend: ContentBackend, register: Registrar = metadataRegistrar(bus)): void {
  bus.serve(CONTENT_SERVICE, {
    unary: contentUnaryHandlers(backend) as Record<string, UnaryHandler>,
    streams: contentStreamHandlers(backend, register),
  });
}
