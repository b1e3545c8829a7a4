/** containerd.services.snapshots.v1.Snapshots: the namespaced view, served by the metadata service. */
import { SnapshotsClient, type Mount, type SnapshotInfo } from '@flotilla/metadata';
import type * as grpc from '@grpc/grpc-js';
import { busOptions, requireNamespace, retryIdempotent } from '../call-options.js';
import type { GatewayContext } from '../gateway-context.js';
import { failStream, unary } from '../status.js';
import { writeAll } from '../stream-write.js';
import { toTimestamp } from '../timestamp.js';

type Call = grpc.ServerUnaryCall<any, any> | grpc.ServerWritableStream<any, any>;
const KINDS = { view: 1, active: 2, committed: 3 } as const;
const LIST_BATCH = 100;

const mountMessage = (m: Mount) => ({ type: m.type, source: m.source, target: m.target ?? '', options: m.options });
const infoMessage = (i: SnapshotInfo) => ({
  name: i.name,
  parent: i.parent ?? '',
  kind: KINDS[i.kind] ?? 0,
  labels: i.labels,
  created_at: toTimestamp(i.created_at),
  updated_at: toTimestamp(i.updated_at),
});

/** The Snapshots service implementation. */
export function snapshotsService(g: GatewayContext) {
  const open = (call: Call) => {
    const ns = requireNamespace(call);
    const o = busOptions(call, g.config.defaultTimeoutMs);
    return { ns, store: new SnapshotsClient(g.bus, () => o), o };
  };
  type Req = { snapshotter: string; key: string; parent?: string; name?: string; labels?: Record<string, string> };
  return {
    Prepare: unary(g.log, 'Snapshots.Prepare', async (req: Req, call) => {
      const { ns, store, o } = open(call);
      return { mounts: (await store.prepare(ns, req.snapshotter, req.key, req.parent || undefined, req.labels ?? {}, o.lease)).map(mountMessage) };
    }),
    View: unary(g.log, 'Snapshots.View', async (req: Req, call) => {
      const { ns, store, o } = open(call);
      return { mounts: (await store.view(ns, req.snapshotter, req.key, req.parent || undefined, req.labels ?? {}, o.lease)).map(mountMessage) };
    }),
    Mounts: unary(g.log, 'Snapshots.Mounts', async (req: Req, call) => {
      const { ns, store, o } = open(call);
      return { mounts: (await retryIdempotent(o.deadline, () => store.mounts(ns, req.snapshotter, req.key))).map(mountMessage) };
    }),
    Commit: unary(g.log, 'Snapshots.Commit', async (req: Req, call) => {
      const { ns, store, o } = open(call);
      await store.commit(ns, req.snapshotter, req.name ?? '', req.key, req.labels ?? {}, o.lease);
      return {};
    }),
    Remove: unary(g.log, 'Snapshots.Remove', async (req: Req, call) => {
      const { ns, store } = open(call);
      await store.remove(ns, req.snapshotter, req.key);
      return {};
    }),
    Stat: unary(g.log, 'Snapshots.Stat', async (req: Req, call) => {
      const { ns, store, o } = open(call);
      return { info: infoMessage(await retryIdempotent(o.deadline, () => store.stat(ns, req.snapshotter, req.key))) };
    }),
    Update: unary(g.log, 'Snapshots.Update', async (req: { snapshotter: string; info?: { name?: string; labels?: Record<string, string> }; update_mask?: { paths?: string[] } }, call) => {
      const { ns, store } = open(call);
      const info = { name: req.info?.name ?? '', labels: req.info?.labels ?? {} };
      return { info: infoMessage(await store.update(ns, req.snapshotter, info, req.update_mask?.paths ?? [])) };
    }),
    List: (call: grpc.ServerWritableStream<{ snapshotter: string; filters?: string[] }, unknown>) => {
      void (async () => {
        const { ns, store, o } = open(call);
        const infos = await retryIdempotent(o.deadline, () => store.list(ns, call.request.snapshotter, call.request.filters ?? []));
        for (let i = 0; i < infos.length; i += LIST_BATCH) await writeAll(call, { info: infos.slice(i, i + LIST_BATCH).map(infoMessage) });
        call.end();
      })().catch((err) => failStream(call, err));
    },
    Usage: unary(g.log, 'Snapshots.Usage', async (req: Req, call) => {
      const { ns, store, o } = open(call);
      return retryIdempotent(o.deadline, () => store.usage(ns, req.snapshotter, req.key));
    }),
    Cleanup: unary(g.log, 'Snapshots.Cleanup', async (req: { snapshotter: string }, call) => {
      const { o } = open(call);
      await g.bus.call('snapshotter', 'Cleanup', { snapshotter: req.snapshotter }, o);
      return {};
    }),
  };
}
