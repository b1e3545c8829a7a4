/** Bus handlers of `Snapshots.*` (the namespaced view of the snapshotters). */
import type { Bus } from '@flotilla/bus';
import type { SnapshotStore } from '../types.js';
import { callerNamespace, optionalLabels, optionalStrings, publisher, requireString, type HandlersOf } from './common.js';

/** `Snapshots.*` over `store`, publishing `/snapshot/*`. */
export function snapshotHandlers(
  bus: Bus,
  store: SnapshotStore,
): HandlersOf<'Snapshots.Prepare' | 'Snapshots.View' | 'Snapshots.Mounts' | 'Snapshots.Commit' | 'Snapshots.Remove' | 'Snapshots.Stat' | 'Snapshots.Update' | 'Snapshots.List' | 'Snapshots.Usage'> {
  const event = publisher(bus);
  const sn = (v: unknown) => requireString(v, 'snapshotter');
  return {
    'Snapshots.Prepare': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      const parent = req.parent || undefined;
      const mounts = await store.prepare(ns, sn(req?.snapshotter), requireString(req.key, 'key'), parent, optionalLabels(req.labels), ctx.lease);
      event('/snapshot/prepare', ns, 'SnapshotPrepare', { key: req.key, parent: parent ?? '', snapshotter: req.snapshotter });
      return { mounts };
    },
    'Snapshots.View': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      return { mounts: await store.view(ns, sn(req?.snapshotter), requireString(req.key, 'key'), req.parent || undefined, optionalLabels(req.labels), ctx.lease) };
    },
    'Snapshots.Mounts': async (req, ctx) => ({ mounts: await store.mounts(callerNamespace(ctx), sn(req?.snapshotter), requireString(req.key, 'key')) }),
    'Snapshots.Commit': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      await store.commit(ns, sn(req?.snapshotter), requireString(req.name, 'name'), requireString(req.key, 'key'), optionalLabels(req.labels), ctx.lease);
      event('/snapshot/commit', ns, 'SnapshotCommit', { key: req.key, name: req.name, snapshotter: req.snapshotter });
      return {};
    },
    'Snapshots.Remove': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      await store.remove(ns, sn(req?.snapshotter), requireString(req.key, 'key'));
      event('/snapshot/remove', ns, 'SnapshotRemove', { key: req.key, snapshotter: req.snapshotter });
      return {};
    },
    'Snapshots.Stat': async (req, ctx) => ({ info: await store.stat(callerNamespace(ctx), sn(req?.snapshotter), requireString(req.key, 'key')) }),
    'Snapshots.Update': async (req, ctx) => {
      const info = { name: requireString(req?.info?.name, 'info.name'), labels: optionalLabels(req.info.labels) };
      return { info: await store.update(callerNamespace(ctx), sn(req.snapshotter), info, optionalStrings(req.update_mask, 'update_mask')) };
    },
    'Snapshots.List': async (req, ctx) => ({ infos: await store.list(callerNamespace(ctx), sn(req?.snapshotter), optionalStrings(req.filters, 'filters')) }),
    'Snapshots.Usage': async (req, ctx) => store.usage(callerNamespace(ctx), sn(req?.snapshotter), requireString(req.key, 'key')),
  };
}
