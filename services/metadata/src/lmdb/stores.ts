/** Every metadata store on one LMDB env. */
import type { MetadataStores } from '../server.js';
import { LmdbContainerStore } from './containers.js';
import { LmdbContentStore } from './content.js';
import { LmdbImageStore } from './images.js';
import type { MetadataEnv } from './environment.js';
import { LmdbLeaseStore } from './leases.js';
import { LmdbNamespaceStore } from './namespaces.js';

/** The LMDB stores; `onDelete` is told of every deletion (the GC scheduler counts them). */
export function lmdbStores(env: MetadataEnv, onDelete: () => void = () => undefined): MetadataStores {
  return {
    namespaces: new LmdbNamespaceStore(env),
    content: new LmdbContentStore(env, onDelete),
    leases: new LmdbLeaseStore(env, onDelete),
    images: new LmdbImageStore(env, onDelete),
    containers: new LmdbContainerStore(env, onDelete),
  };
}
