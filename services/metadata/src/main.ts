/** The metadata process: namespaced records on LMDB, and the garbage collector. */
import { runService } from '@flotilla/host';
import { metadataConfig } from './config.js';
import { GcScheduler, cleanupBackends, collectGarbage, fsck } from './gc/index.js';
import { openMetadataEnv } from './lmdb/environment.js';
import { lmdbStores } from './lmdb/stores.js';
import { BusSnapshotBackend } from './snapshots/backend.js';
import { serveMetadata } from './server.js';

await runService({
  name: 'metadata',
  start: ({ config, bus, log, onShutdown }) => {
    const mc = metadataConfig(config);
    const env = openMetadataEnv({ root: mc.root, mapSizeMb: mc.mapSizeMb, noSync: mc.noSync });
    const gcLog = log.child({ component: 'gc' });
    const gc = new GcScheduler(
      mc.gc,
      async () => {
        const r = await collectGarbage(env);
        await cleanupBackends(bus, env, r, gcLog);
        return r;
      },
      gcLog,
    );
    onShutdown(() => env.close());
    onShutdown(() => gc.stop());
    const stores = lmdbStores(env, () => gc.deleted(), () => new BusSnapshotBackend(bus), (labels) => gc.leaseCreated(labels));
    serveMetadata(bus, {
      ...stores,
      collect: async (sync) => {
        if (sync) await gc.collectNow();
      },
      mutated: () => gc.mutated(),
    });
    // Administration: consistency check and on-demand collection (`flotilla fsck`, `flotilla gc`).
    bus.serve('metadata-admin', {
      unary: {
        Fsck: async () => fsck(env, bus, ['overlayfs', 'native']),
        Collect: async () => {
          const r = await gc.collectNow();
          return { content: r.content.length, snapshots: r.snapshots.length, leases: r.leases.length, pauseMs: r.pauseMs };
        },
      },
    });
    gc.start();
    return [
      { type: 'io.containerd.metadata.v1', id: 'lmdb', requires: ['io.containerd.content.v1', 'io.containerd.snapshotter.v1'], status: 'ok', exports: { root: mc.root } },
      { type: 'io.containerd.gc.v1', id: 'scheduler', requires: ['io.containerd.metadata.v1'], status: 'ok' },
      { type: 'io.containerd.grpc.v1', id: 'namespaces', requires: ['io.containerd.metadata.v1'], status: 'ok' },
      { type: 'io.containerd.grpc.v1', id: 'leases', requires: ['io.containerd.metadata.v1'], status: 'ok' },
      { type: 'io.containerd.grpc.v1', id: 'images', requires: ['io.containerd.metadata.v1'], status: 'ok' },
      { type: 'io.containerd.grpc.v1', id: 'containers', requires: ['io.containerd.metadata.v1'], status: 'ok' },
      { type: 'io.containerd.grpc.v1', id: 'snapshots', requires: ['io.containerd.metadata.v1'], status: 'ok' },
    ];
  },
});
