/** Every metadata store on one LMDB env. */
import type { MetadataStores } from '../server.js';
import { LmdbContainerStore } from './containers.js';
import { LmdbContentStore } from './content.js';
import { LmdbImageStore } from './images.js';
import type { MetadataEnv } from './environment.js';
import { LmdbLeaseStore } from './leases.js';
import { LmdbNamespaceStore } from './namespaces.js';
import type { SnapshotBackend } from '../snapshots/backend.js';
import { MetadataSnapshotStore } from '../snapshots/store.js';
import { unavailable } from '@flotilla/api';

const noBackend = (): SnapshotBackend => {
  throw unavailable('no snapshotter backend');
};

/**
 * The LMDB stores; `onDelete` is told of every deletion (the GC scheduler counts them); snapshots
 * drive the snapshotter backend that `backend` gives.
 */
export function lmdbStores(
  env: MetadataEnv,
  onDelete: () => void = () => undefined,
  backend: () => SnapshotBackend = noBackend,
  onLease: (labels: Record<string, string>) => void = () => undefined,
): MetadataStores {
  return {
    snapshots: new MetadataSnapshotStore(env, backend, onDelete),
    namespaces: new LmdbNamespaceStore(env),
    content: new LmdbContentStore(env, onDelete),
    leases: new LmdbLeaseStore(env, onDelete, onLease),
    images: new LmdbImageStore(env, onDelete),
    containers: new LmdbContainerStore(env, onDelete),
  };
}
