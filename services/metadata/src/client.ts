/** The metadata service's interfaces over the bus. */
import { ServiceClient, type Bus, type CallOptions } from '@flotilla/bus';
import {
  METADATA_SERVICE,
  type Container,
  type ContainerStore,
  type ContentInfo,
  type ContentStore,
  type Image,
  type ImageStore,
  type Lease,
  type LeaseResource,
  type LeaseStore,
  type MetadataContract,
  type Namespace,
  type NamespaceStore,
  type Mount,
  type SnapshotInfo,
  type SnapshotStore,
} from './types.js';

/** NamespaceStore served by a remote metadata process. */
export class NamespacesClient implements NamespaceStore {
  private readonly c: ServiceClient<MetadataContract>;
  constructor(
    bus: Bus,
    private readonly opts: () => CallOptions = () => ({}),
  ) {
    this.c = new ServiceClient<MetadataContract>(bus, METADATA_SERVICE);
  }

  async get(name: string): Promise<Namespace> {
    return (await this.c.call('Namespaces.Get', { name }, this.opts())).namespace;
  }
  async list(): Promise<Namespace[]> {
    return (await this.c.call('Namespaces.List', {}, this.opts())).namespaces;
  }
  async create(name: string, labels: Record<string, string>): Promise<Namespace> {
    return (await this.c.call('Namespaces.Create', { namespace: { name, labels } }, this.opts())).namespace;
  }
  async update(name: string, labels: Record<string, string>, paths?: string[]): Promise<Namespace> {
    return (await this.c.call('Namespaces.Update', { namespace: { name, labels }, update_mask: paths }, this.opts())).namespace;
  }
  async delete(name: string): Promise<void> {
    await this.c.call('Namespaces.Delete', { name }, this.opts());
  }
}

/**
 * The namespaced stores over the bus. Their `ns` argument becomes the call's namespace header; the
 * lease of the call comes from the options function.
 */
abstract class NamespacedClient {
  protected readonly c: ServiceClient<MetadataContract>;
  constructor(
    bus: Bus,
    protected readonly opts: () => CallOptions = () => ({}),
  ) {
    this.c = new ServiceClient<MetadataContract>(bus, METADATA_SERVICE);
  }
  protected o(ns: string, lease?: string): CallOptions {
    const base = this.opts();
    return { ...base, namespace: ns, lease: lease ?? base.lease };
  }
}

/** ContentStore served by a remote metadata process. */
export class ContentRecordsClient extends NamespacedClient implements ContentStore {
  async info(ns: string, digest: string): Promise<ContentInfo> {
    return (await this.c.call('Content.Info', { digest }, this.o(ns))).info;
  }
  async update(ns: string, info: { digest: string; labels?: Record<string, string> }, paths?: string[]): Promise<ContentInfo> {
    return (await this.c.call('Content.Update', { info, update_mask: paths }, this.o(ns))).info;
  }
  async list(ns: string, filters?: string[]): Promise<ContentInfo[]> {
    return (await this.c.call('Content.List', { filters }, this.o(ns))).infos;
  }
  async delete(ns: string, digest: string): Promise<void> {
    await this.c.call('Content.Delete', { digest }, this.o(ns));
  }
  async register(ns: string, req: { digest: string; size: number; labels?: Record<string, string>; exclusive?: boolean }, lease?: string): Promise<ContentInfo> {
    return (await this.c.call('Content.Register', req, this.o(ns, lease))).info;
  }
}

/** LeaseStore served by a remote metadata process. */
export class LeasesClient extends NamespacedClient implements LeaseStore {
  async create(ns: string, id: string, labels?: Record<string, string>): Promise<Lease> {
    return (await this.c.call('Leases.Create', { id, labels }, this.o(ns))).lease;
  }
  async delete(ns: string, id: string, sync = false): Promise<void> {
    await this.c.call('Leases.Delete', { id, sync }, this.o(ns));
  }
  async list(ns: string, filters?: string[]): Promise<Lease[]> {
    return (await this.c.call('Leases.List', { filters }, this.o(ns))).leases;
  }
  async addResource(ns: string, id: string, resource: LeaseResource): Promise<void> {
    await this.c.call('Leases.AddResource', { id, resource }, this.o(ns));
  }
  async deleteResource(ns: string, id: string, resource: LeaseResource): Promise<void> {
    await this.c.call('Leases.DeleteResource', { id, resource }, this.o(ns));
  }
  async listResources(ns: string, id: string): Promise<LeaseResource[]> {
    return (await this.c.call('Leases.ListResources', { id }, this.o(ns))).resources;
  }
}

/** ImageStore served by a remote metadata process. */
export class ImagesClient extends NamespacedClient implements ImageStore {
  async get(ns: string, name: string): Promise<Image> {
    return (await this.c.call('Images.Get', { name }, this.o(ns))).image;
  }
  async list(ns: string, filters?: string[]): Promise<Image[]> {
    return (await this.c.call('Images.List', { filters }, this.o(ns))).images;
  }
  async create(ns: string, image: Omit<Image, 'created_at' | 'updated_at'>): Promise<Image> {
    return (await this.c.call('Images.Create', { image }, this.o(ns))).image;
  }
  async update(ns: string, image: Omit<Image, 'created_at' | 'updated_at'>, paths?: string[]): Promise<Image> {
    return (await this.c.call('Images.Update', { image, update_mask: paths }, this.o(ns))).image;
  }
  async delete(ns: string, name: string, sync = false): Promise<void> {
    await this.c.call('Images.Delete', { name, sync }, this.o(ns));
  }
}

/** ContainerStore served by a remote metadata process. */
export class ContainersClient extends NamespacedClient implements ContainerStore {
  async get(ns: string, id: string): Promise<Container> {
    return (await this.c.call('Containers.Get', { id }, this.o(ns))).container;
  }
  async list(ns: string, filters?: string[]): Promise<Container[]> {
    return (await this.c.call('Containers.List', { filters }, this.o(ns))).containers;
  }
  async create(ns: string, c: Omit<Container, 'created_at' | 'updated_at'>): Promise<Container> {
    return (await this.c.call('Containers.Create', { container: c }, this.o(ns))).container;
  }
  async update(ns: string, c: Omit<Container, 'created_at' | 'updated_at'>, paths?: string[]): Promise<Container> {
    return (await this.c.call('Containers.Update', { container: c, update_mask: paths }, this.o(ns))).container;
  }
  async delete(ns: string, id: string): Promise<void> {
    await this.c.call('Containers.Delete', { id }, this.o(ns));
  }
}

/** SnapshotStore served by a remote metadata process (the lease comes from the call options). */
export class SnapshotsClient extends NamespacedClient implements SnapshotStore {
  async prepare(ns: string, snapshotter: string, key: string, parent?: string, labels?: Record<string, string>, lease?: string): Promise<Mount[]> {
    return (await this.c.call('Snapshots.Prepare', { snapshotter, key, parent, labels }, this.o(ns, lease))).mounts;
  }
  async view(ns: string, snapshotter: string, key: string, parent?: string, labels?: Record<string, string>, lease?: string): Promise<Mount[]> {
    return (await this.c.call('Snapshots.View', { snapshotter, key, parent, labels }, this.o(ns, lease))).mounts;
  }
  async mounts(ns: string, snapshotter: string, key: string): Promise<Mount[]> {
    return (await this.c.call('Snapshots.Mounts', { snapshotter, key }, this.o(ns))).mounts;
  }
  async commit(ns: string, snapshotter: string, name: string, key: string, labels?: Record<string, string>, lease?: string): Promise<void> {
    await this.c.call('Snapshots.Commit', { snapshotter, name, key, labels }, this.o(ns, lease));
  }
  async remove(ns: string, snapshotter: string, key: string): Promise<void> {
    await this.c.call('Snapshots.Remove', { snapshotter, key }, this.o(ns));
  }
  async stat(ns: string, snapshotter: string, key: string): Promise<SnapshotInfo> {
    return (await this.c.call('Snapshots.Stat', { snapshotter, key }, this.o(ns))).info;
  }
  async update(ns: string, snapshotter: string, info: { name: string; labels?: Record<string, string> }, paths?: string[]): Promise<SnapshotInfo> {
    return (await this.c.call('Snapshots.Update', { snapshotter, info, update_mask: paths }, this.o(ns))).info;
  }
  async list(ns: string, snapshotter: string, filters?: string[]): Promise<SnapshotInfo[]> {
    return (await this.c.call('Snapshots.List', { snapshotter, filters }, this.o(ns))).infos;
  }
  async usage(ns: string, snapshotter: string, key: string): Promise<{ size: number; inodes: number }> {
    return this.c.call('Snapshots.Usage', { snapshotter, key }, this.o(ns));
  }
}
