/** containerd.services.diff.v1.Diff: layer apply and diff, done by the differ in the snapshotter process. */
import { ContentRecordsClient } from '@flotilla/metadata';
import { busOptions, requireNamespace } from '../call-options.js';
import type { GatewayContext } from '../gateway-context.js';
import { unary } from '../status.js';

type Desc = { media_type?: string; digest?: string; size?: string | number; annotations?: Record<string, string> };
type MountMsg = { type?: string; source?: string; target?: string; options?: string[] };

/** Applying a large layer takes long: without a client deadline, allow this much. */
const LONG_OP_MS = 3_600_000;

const mountIn = (m: MountMsg) => ({ type: m.type ?? '', source: m.source ?? '', target: m.target || undefined, options: m.options ?? [] });
const descOut = (d: { media_type: string; digest: string; size: number; annotations?: Record<string, string> }) => ({
  media_type: d.media_type,
  digest: d.digest,
  size: d.size,
  annotations: d.annotations ?? {},
});

/** The Diff service implementation. */
export function diffService(g: GatewayContext) {
  return {
    Apply: unary(g.log, 'Diff.Apply', async (req: { diff?: Desc; mounts?: MountMsg[] }, call) => {
      const ns = requireNamespace(call);
      const o = busOptions(call, LONG_OP_MS);
      const digest = req.diff?.digest ?? '';
      await new ContentRecordsClient(g.bus, () => o).info(ns, digest); // the blob must be visible in this namespace
      const diff = { media_type: req.diff?.media_type ?? '', digest, size: Number(req.diff?.size ?? 0), annotations: req.diff?.annotations ?? {} };
      const r = await g.bus.call<{ applied: { media_type: string; digest: string; size: number } }>('differ', 'Apply', { diff, mounts: (req.mounts ?? []).map(mountIn) }, o);
      return { applied: descOut(r.applied) };
    }),
    Diff: unary(g.log, 'Diff.Diff', async (req: { left?: MountMsg[]; right?: MountMsg[]; media_type?: string; ref?: string; labels?: Record<string, string> }, call) => {
      requireNamespace(call);
      const o = busOptions(call, LONG_OP_MS);
      const r = await g.bus.call<{ diff: { media_type: string; digest: string; size: number } }>(
        'differ',
        'Diff',
        { left: (req.left ?? []).map(mountIn), right: (req.right ?? []).map(mountIn), media_type: req.media_type ?? '', ref: req.ref ?? '', labels: req.labels ?? {} },
        o,
      );
      return { diff: descOut(r.diff) };
    }),
  };
}
