/**
 * The differ on the bus (service `differ`, served by the snapshotter process because it needs the
 * snapshot directories): `Apply` unpacks a layer blob from the content service into the snapshot
 * the mounts describe; `Diff` writes the changes between two mount sets to the content service as
 * a gzip layer. Mount sets are the snapshotter's own (bind or overlay on local paths).
 */
import { createHash } from 'node:crypto';
import { failedPrecondition, invalidArgument, validateDigest } from '@flotilla/api';
import type { Bus, CallContext, Duplex, UnaryHandler } from '@flotilla/bus';
import { forwardOptions, MAX_CHUNK } from '@flotilla/bus';
import type { Logger } from '@flotilla/log';
import { applyLayer, compressGzip, diffLayer, MediaTypeOciLayer, MediaTypeOciLayerGzip, type ApplyTarget, type DiffUpper } from './differ/index.js';
import type { Mount } from './types.js';
import type { ReadChunk, WriteRequest, WriteResponse } from '@flotilla/content';

/** Bus service name of the differ. */
export const DIFFER_SERVICE = 'differ';

/** An OCI descriptor on the wire. */
export interface DescriptorMsg {
  media_type: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

function optionValue(m: Mount, name: string): string | undefined {
  const p = `${name}=`;
  return m.options.find((o) => o.startsWith(p))?.slice(p.length);
}

/** Where a layer applied to `mounts` must be written (the one writable layer of the snapshot). */
export function applyTargetOf(mounts: Mount[]): ApplyTarget {
  if (!Array.isArray(mounts) || mounts.length !== 1) throw invalidArgument('exactly one mount is supported');
  const m = mounts[0];
  if (m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind')) {
    if (m.options.includes('ro')) throw failedPrecondition('cannot apply to a read-only mount');
    return { kind: 'dir', root: m.source };
  }
  if (m.type === 'overlay') {
    const upper = optionValue(m, 'upperdir');
    if (!upper) throw failedPrecondition('cannot apply to an overlay without an upper directory');
    return { kind: 'overlay-upper', upper, lowers: (optionValue(m, 'lowerdir') ?? '').split(':').filter(Boolean) };
  }
  throw invalidArgument(`unsupported mount type ${JSON.stringify(m.type)}`);
}

/** The lower directories a mount set shows (top first), and its own writable or single directory. */
function layersOf(mounts: Mount[]): { lowers: string[]; top?: string; kind: 'overlay' | 'bind' } {
  if (!Array.isArray(mounts) || mounts.length === 0) return { lowers: [], kind: 'bind' };
  const m = mounts[0];
  if (m.type === 'overlay') {
    return { lowers: (optionValue(m, 'lowerdir') ?? '').split(':').filter(Boolean), top: optionValue(m, 'upperdir'), kind: 'overlay' };
  }
  return { lowers: [], top: m.source, kind: 'bind' };
}

/** Writes `chunks` as one blob through the content service's Write stream; resolves with its descriptor. */
async function writeBlob(bus: Bus, ctx: CallContext, ref: string, chunks: AsyncIterable<Uint8Array>, labels: (digest: string, size: number) => Record<string, string>, mediaType: string): Promise<DescriptorMsg> {
  const opts = { ...forwardOptions(ctx), timeoutMs: 0, duplex: true };
  const w: Duplex<WriteRequest, WriteResponse> = bus.openStream('content', 'Write', { action: 'stat', ref, offset: 0 } satisfies WriteRequest, opts);
  const ask = async (msg: WriteRequest) => {
    await w.send(msg);
    const r = await w.recv();
    if (!r) throw invalidArgument('content write ended early');
    return r;
  };
  await w.recv(); // stat reply
  const hash = createHash('sha256');
  let offset = 0;
  // Restart the ingest at 0: a previous attempt under the same ref may have left bytes.
  let first = true;
  for await (const chunk of chunks) {
    for (let pos = 0; pos < chunk.length; pos += MAX_CHUNK) {
      const part = chunk.subarray(pos, pos + MAX_CHUNK);
      hash.update(part);
      await ask({ action: 'write', ref, offset: first ? 0 : offset, data: part });
      first = false;
      offset += part.length;
    }
  }
  const digest = `sha256:${hash.digest('hex')}`;
  const r = await ask({ action: 'commit', ref, total: offset, offset, expected: digest, labels: labels(digest, offset) });
  w.end();
  return { media_type: mediaType, digest: r.digest ?? digest, size: offset };
}

/** The differ's bus handlers. */
export function differHandlers(bus: Bus, log: Logger): Record<string, UnaryHandler> {
  return {
    Apply: async (req: { diff?: DescriptorMsg; mounts?: Mount[] }, ctx) => {
      const desc = req?.diff;
      if (!desc || typeof desc.media_type !== 'string') throw invalidArgument('diff descriptor must be set');
      validateDigest(desc.digest);
      const target = applyTargetOf(req.mounts ?? []);
      const stream = bus.openStream<never, ReadChunk>('content', 'Read', { digest: desc.digest }, { ...forwardOptions(ctx), timeoutMs: 0 });
      const input = (async function* () {
        for await (const c of stream) yield c.data;
      })();
      try {
        const r = await applyLayer(input, target, { mediaType: desc.media_type, signal: ctx.signal, log, syncFs: true });
        return { applied: { media_type: MediaTypeOciLayer, digest: r.diffId, size: r.size } };
      } finally {
        stream.cancel();
      }
    },
    Diff: async (req: { left?: Mount[]; right?: Mount[]; media_type?: string; ref?: string; labels?: Record<string, string> }, ctx) => {
      const mediaType = req?.media_type || MediaTypeOciLayerGzip;
      if (mediaType !== MediaTypeOciLayerGzip && mediaType !== MediaTypeOciLayer) throw invalidArgument(`unsupported diff media type: ${mediaType}`);
      const right = layersOf(req.right ?? []);
      const left = layersOf(req.left ?? []);
      if (!right.top) throw invalidArgument('right mounts must be set');
      const upper: DiffUpper = right.kind === 'overlay' ? { kind: 'overlay-upper', upper: right.top } : { kind: 'dir', root: right.top, parentRoot: left.top };
      const lowers = right.kind === 'overlay' ? right.lowers : [];
      const uncompressed = createHash('sha256');
      const tar = (async function* () {
        for await (const c of diffLayer(lowers, upper, { signal: ctx.signal })) {
          uncompressed.update(c);
          yield c;
        }
      })();
      const body = mediaType === MediaTypeOciLayerGzip ? compressGzip(tar) : tar;
      const ref = req.ref || `diff-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const desc = await writeBlob(
        bus,
        ctx,
        ref,
        body,
        () => ({ ...(req.labels ?? {}), 'containerd.io/uncompressed': `sha256:${uncompressed.digest('hex')}` }),
        mediaType,
      );
      return { diff: desc };
    },
  };
}

/** Serves the differ on the bus. */
export function serveDiffer(bus: Bus, log: Logger): void {
  bus.serve(DIFFER_SERVICE, { unary: differHandlers(bus, log) });
}
