/** The metadata service's domain interfaces (no wire types here). */

/** A containerd namespace with its labels. */
export interface Namespace {
  name: string;
  labels: Record<string, string>;
}

/** Namespaces, with containerd's semantics. */
export interface NamespaceStore {
  /** Labels of `name`; an unknown (or impossible) namespace answers with empty labels (containerd behaviour). */
  get(name: string): Promise<Namespace>;
  /** Every namespace, sorted by name. */
  list(): Promise<Namespace[]>;
  /** Creates `name`; AlreadyExists when present. */
  create(name: string, labels: Record<string, string>): Promise<Namespace>;
  /**
   * Updates labels. With `paths` (`labels.<key>`), sets each named key from `labels` (an absent or
   * empty value deletes it); without, replaces all labels. Creates the namespace if needed.
   */
  update(name: string, labels: Record<string, string>, paths?: string[]): Promise<Namespace>;
  /** Deletes an empty namespace: NotFound when absent (or the name is invalid), FailedPrecondition when it still holds objects. */
  delete(name: string): Promise<void>;
}

/** A blob as a namespace sees it. */
export interface ContentInfo {
  digest: string;
  size: number;
  /** ms since the epoch. */
  created_at: number;
  updated_at: number;
  labels: Record<string, string>;
}

/** Namespaced content records (the blobs themselves live in the content service). */
export interface ContentStore {
  info(ns: string, digest: string): Promise<ContentInfo>;
  /** Labels only: paths `labels` or `labels.<key>`; none replaces all labels. */
  update(ns: string, info: { digest: string; labels?: Record<string, string> }, paths?: string[]): Promise<ContentInfo>;
  list(ns: string, filters?: string[]): Promise<ContentInfo[]>;
  /** Removes the record; GC removes the blob when no namespace references it. */
  delete(ns: string, digest: string): Promise<void>;
  /**
   * Records a committed blob in `ns` (called by the content service before it acknowledges a
   * commit) and adds it to `lease` when given. `exclusive`: AlreadyExists when already recorded.
   */
  register(ns: string, req: { digest: string; size: number; labels?: Record<string, string>; exclusive?: boolean }, lease?: string): Promise<ContentInfo>;
}

/** A lease: keeps the resources it lists from GC until deleted or expired. */
export interface Lease {
  id: string;
  created_at: number;
  labels: Record<string, string>;
}

/** A resource held by a lease: `content` (digest), `snapshots/<snapshotter>` (key) or `ingests` (ref). */
export interface LeaseResource {
  id: string;
  type: string;
}

/** Leases with containerd's semantics. */
export interface LeaseStore {
  create(ns: string, id: string, labels?: Record<string, string>): Promise<Lease>;
  delete(ns: string, id: string): Promise<void>;
  list(ns: string, filters?: string[]): Promise<Lease[]>;
  addResource(ns: string, id: string, r: LeaseResource): Promise<void>;
  deleteResource(ns: string, id: string, r: LeaseResource): Promise<void>;
  listResources(ns: string, id: string): Promise<LeaseResource[]>;
}

/** An OCI descriptor. */
export interface Descriptor {
  media_type: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** A named image: a target descriptor plus labels. */
export interface Image {
  name: string;
  labels: Record<string, string>;
  target: Descriptor;
  created_at: number;
  updated_at: number;
}

/** Images with containerd's semantics. */
export interface ImageStore {
  get(ns: string, name: string): Promise<Image>;
  list(ns: string, filters?: string[]): Promise<Image[]>;
  create(ns: string, image: Omit<Image, 'created_at' | 'updated_at'>): Promise<Image>;
  /** Paths: `labels`, `labels.<k>`, `target`, `annotations`, `annotations.<k>`; none = labels and target. */
  update(ns: string, image: Omit<Image, 'created_at' | 'updated_at'>, paths?: string[]): Promise<Image>;
  delete(ns: string, name: string): Promise<void>;
}

/** A protobuf Any: full type name and encoded bytes. */
export interface AnyValue {
  type_url: string;
  value: Uint8Array;
}

/** A container record (no process: that is a task). */
export interface Container {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options?: AnyValue };
  spec?: AnyValue;
  snapshotter: string;
  snapshot_key: string;
  extensions: Record<string, AnyValue>;
  created_at: number;
  updated_at: number;
}

/** Containers with containerd's semantics. */
export interface ContainerStore {
  get(ns: string, id: string): Promise<Container>;
  list(ns: string, filters?: string[]): Promise<Container[]>;
  create(ns: string, c: Omit<Container, 'created_at' | 'updated_at'>): Promise<Container>;
  /** Paths: `labels(.k)`, `spec`, `extensions(.k)`, `image`, `snapshotkey`; none = all mutable fields. */
  update(ns: string, c: Omit<Container, 'created_at' | 'updated_at'>, paths?: string[]): Promise<Container>;
  delete(ns: string, id: string): Promise<void>;
}

/** A mount as containerd describes it. */
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

/** Snapshot kinds. */
export type SnapshotKind = 'view' | 'active' | 'committed';

/** A snapshot as a namespace sees it. */
export interface SnapshotInfo {
  name: string;
  parent?: string;
  kind: SnapshotKind;
  labels: Record<string, string>;
  created_at: number;
  updated_at: number;
}

/** The namespaced view of the snapshotters (backend keys are hidden). */
export interface SnapshotStore {
  prepare(ns: string, snapshotter: string, key: string, parent?: string, labels?: Record<string, string>, lease?: string): Promise<Mount[]>;
  view(ns: string, snapshotter: string, key: string, parent?: string, labels?: Record<string, string>, lease?: string): Promise<Mount[]>;
  mounts(ns: string, snapshotter: string, key: string): Promise<Mount[]>;
  commit(ns: string, snapshotter: string, name: string, key: string, labels?: Record<string, string>, lease?: string): Promise<void>;
  remove(ns: string, snapshotter: string, key: string): Promise<void>;
  stat(ns: string, snapshotter: string, key: string): Promise<SnapshotInfo>;
  update(ns: string, snapshotter: string, info: { name: string; labels?: Record<string, string> }, paths?: string[]): Promise<SnapshotInfo>;
  list(ns: string, snapshotter: string, filters?: string[]): Promise<SnapshotInfo[]>;
  usage(ns: string, snapshotter: string, key: string): Promise<{ size: number; inodes: number }>;
}

/** Bus method names of the metadata service. */
export const METADATA_SERVICE = 'metadata';

/** The metadata service's bus contract. */
export type MetadataContract = {
  'Namespaces.Get': { req: { name: string }; res: { namespace: Namespace } };
  'Namespaces.List': { req: Record<string, never>; res: { namespaces: Namespace[] } };
  'Namespaces.Create': { req: { namespace: Namespace }; res: { namespace: Namespace } };
  'Namespaces.Update': { req: { namespace: Namespace; update_mask?: string[] }; res: { namespace: Namespace } };
  'Namespaces.Delete': { req: { name: string }; res: Record<string, never> };
  'Content.Info': { req: { digest: string }; res: { info: ContentInfo } };
  'Content.Update': { req: { info: { digest: string; labels?: Record<string, string> }; update_mask?: string[] }; res: { info: ContentInfo } };
  'Content.List': { req: { filters?: string[] }; res: { infos: ContentInfo[] } };
  'Content.Delete': { req: { digest: string }; res: Record<string, never> };
  'Content.Register': { req: { digest: string; size: number; labels?: Record<string, string>; exclusive?: boolean }; res: { info: ContentInfo } };
  'Leases.Create': { req: { id: string; labels?: Record<string, string> }; res: { lease: Lease } };
  'Leases.Delete': { req: { id: string; sync?: boolean }; res: Record<string, never> };
  'Leases.List': { req: { filters?: string[] }; res: { leases: Lease[] } };
  'Leases.AddResource': { req: { id: string; resource: LeaseResource }; res: Record<string, never> };
  'Leases.DeleteResource': { req: { id: string; resource: LeaseResource }; res: Record<string, never> };
  'Leases.ListResources': { req: { id: string }; res: { resources: LeaseResource[] } };
  'Images.Get': { req: { name: string }; res: { image: Image } };
  'Images.List': { req: { filters?: string[] }; res: { images: Image[] } };
  'Images.Create': { req: { image: Omit<Image, 'created_at' | 'updated_at'> }; res: { image: Image } };
  'Images.Update': { req: { image: Omit<Image, 'created_at' | 'updated_at'>; update_mask?: string[] }; res: { image: Image } };
  'Images.Delete': { req: { name: string; sync?: boolean }; res: Record<string, never> };
  'Containers.Get': { req: { id: string }; res: { container: Container } };
  'Containers.List': { req: { filters?: string[] }; res: { containers: Container[] } };
  'Containers.Create': { req: { container: Omit<Container, 'created_at' | 'updated_at'> }; res: { container: Container } };
  'Containers.Update': { req: { container: Omit<Container, 'created_at' | 'updated_at'>; update_mask?: string[] }; res: { container: Container } };
  'Containers.Delete': { req: { id: string }; res: Record<string, never> };
  'Snapshots.Prepare': { req: { snapshotter: string; key: string; parent?: string; labels?: Record<string, string> }; res: { mounts: Mount[] } };
  'Snapshots.View': { req: { snapshotter: string; key: string; parent?: string; labels?: Record<string, string> }; res: { mounts: Mount[] } };
  'Snapshots.Mounts': { req: { snapshotter: string; key: string }; res: { mounts: Mount[] } };
  'Snapshots.Commit': { req: { snapshotter: string; name: string; key: string; labels?: Record<string, string> }; res: Record<string, never> };
  'Snapshots.Remove': { req: { snapshotter: string; key: string }; res: Record<string, never> };
  'Snapshots.Stat': { req: { snapshotter: string; key: string }; res: { info: SnapshotInfo } };
  'Snapshots.Update': { req: { snapshotter: string; info: { name: string; labels?: Record<string, string> }; update_mask?: string[] }; res: { info: SnapshotInfo } };
  'Snapshots.List': { req: { snapshotter: string; filters?: string[] }; res: { infos: SnapshotInfo[] } };
  'Snapshots.Usage': { req: { snapshotter: string; key: string }; res: { size: number; inodes: number } };
};
