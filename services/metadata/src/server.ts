/** Bus adapter of the metadata service: every handler group served under `flotilla.metadata.v1.*`. */
import type { Bus, UnaryHandler } from '@flotilla/bus';
import { containerHandlers } from './handlers/containers.js';
import { contentHandlers } from './handlers/content.js';
import { imageHandlers } from './handlers/images.js';
import { leaseHandlers } from './handlers/leases.js';
import { snapshotHandlers } from './handlers/snapshots.js';
import { namespaceHandlers } from './handlers/namespaces.js';
import { METADATA_SERVICE, type ContainerStore, type ContentStore, type ImageStore, type LeaseStore, type NamespaceStore, type SnapshotStore } from './types.js';

/** The stores the metadata service serves. */
export interface MetadataStores {
  namespaces: NamespaceStore;
  content: ContentStore;
  leases: LeaseStore;
  images: ImageStore;
  containers: ContainerStore;
  snapshots: SnapshotStore;
  /** Runs after deletions that may free resources; awaited when the caller asked for `sync`. */
  collect?: (sync: boolean) => Promise<void>;
  /** Told of every successful mutation (the GC scheduler counts them). */
  mutated?: () => void;
}

/** Methods that change nothing. */
const READ_ONLY = /\.(Get|List|Info|Stat|Mounts|Usage|ListResources)$/;

/** Serves the metadata service on the bus. */
export function serveMetadata(bus: Bus, s: MetadataStores): void {
  const unary = {
    ...namespaceHandlers(bus, s.namespaces),
    ...contentHandlers(bus, s.content),
    ...leaseHandlers(s.leases, s.collect),
    ...imageHandlers(bus, s.images, s.collect),
    ...containerHandlers(bus, s.containers, s.collect),
    ...snapshotHandlers(bus, s.snapshots),
  };
  const counted: Record<string, UnaryHandler> = {};
  for (const [name, h] of Object.entries(unary as Record<string, UnaryHandler>)) {
    counted[name] = READ_ONLY.test(name) || !s.mutated ? h : async (req, ctx) => {
      const r = await h(req, ctx);
      s.mutated?.();
      return r;
    };
  }
  bus.serve(METADATA_SERVICE, { unary: counted });
}
