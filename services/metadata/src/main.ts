/** The metadata process: LMDB namespaces (and, later, every namespaced record) on the bus. */
import { runService } from '@flotilla/host';
import { metadataConfig } from './config.js';
import { openMetadataEnv } from './lmdb/environment.js';
import { lmdbStores } from './lmdb/stores.js';
import { serveMetadata } from './server.js';

await runService({
  name: 'metadata',
  start: ({ config, bus, onShutdown }) => {
    const mc = metadataConfig(config);
    const env = openMetadataEnv({ root: mc.root, mapSizeMb: mc.mapSizeMb, noSync: mc.noSync });
    onShutdown(() => env.close());
    serveMetadata(bus, lmdbStores(env));
    return [
      { type: 'io.containerd.metadata.v1', id: 'lmdb', requires: ['io.containerd.content.v1', 'io.containerd.snapshotter.v1'], status: 'ok', exports: { root: mc.root } },
      { type: 'io.containerd.grpc.v1', id: 'namespaces', requires: ['io.containerd.metadata.v1'], status: 'ok' },
      { type: 'io.containerd.grpc.v1', id: 'leases', requires: ['io.containerd.metadata.v1'], status: 'ok' },
      { type: 'io.containerd.grpc.v1', id: 'images', requires: ['io.containerd.metadata.v1'], status: 'ok' },
      { type: 'io.containerd.grpc.v1', id: 'containers', requires: ['io.containerd.metadata.v1'], status: 'ok' },
    ];
  },
});
