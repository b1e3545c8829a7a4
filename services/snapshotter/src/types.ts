/**
 * The snapshotter service's domain types: containerd's `snapshots.Snapshotter` interface on backend
 * (namespace-unaware) snapshots. No wire types here; the bus contract at the end only names the
 * request and reply shapes `server.ts` and `client.ts` agree on.
 */

/** Kind of a snapshot, as containerd's filters spell it. */
export type Kind = 'view' | 'active' | 'committed';

/** Every kind, for validation. */
export const KINDS: readonly Kind[] = ['view', 'active', 'committed'];

/** A mount as containerd's `mount.Mount` (`types.Mount` on the API): what to mount to see a snapshot. */
export interface Mount {
  /** Filesystem type: `bind`, `overlay`. */
  type: string;
  /** Source: a directory for `bind`, the literal `overlay` for overlay. */
  source: string;
  /** Target inside the mount point (empty/absent for snapshotter mounts). */
  target?: string;
  /** Mount options, e.g. `['ro', 'rbind']` or `['index=off', 'workdir=…', 'upperdir=…', 'lowerdir=…']`. */
  options: string[];
}

/** What a snapshot is (containerd's `snapshots.Info`). Times are milliseconds since the epoch. */
export interface Info {
  /** Key of an active/view snapshot, or name of a committed one. */
  name: string;
  /** Name of the committed parent; absent for a root snapshot. */
  parent?: string;
  kind: Kind;
  labels: Record<string, string>;
  created_at: number;
  updated_at: number;
}

/** Resources a snapshot takes (containerd's `snapshots.Usage`). */
export interface Usage {
  /** Bytes allocated on disk (st_blocks × 512 over unique inodes). */
  size: number;
  /** Unique inodes. */
  inodes: number;
}

/** The fields of an Info an Update may carry. */
export interface InfoUpdate {
  name: string;
  labels?: Record<string, string>;
}

/**
 * A snapshotter with containerd's semantics (`snapshots/snapshotter.go`). Keys and names are
 * arbitrary non-empty strings and never become paths.
 *
 * Error kinds: NotFound (missing key, missing parent), AlreadyExists (key or commit name taken),
 * InvalidArgument (parent not committed, bad update path, bad filter, empty key), FailedPrecondition
 * (mounts of a committed snapshot, commit of a non-active one, remove of a snapshot with children).
 */
export interface Snapshotter {
  /** Info of `key` (any kind). */
  stat(key: string): Promise<Info>;
  /**
   * Updates labels of `info.name`. With `fieldpaths`: `labels` replaces all labels, `labels.<k>` sets
   * (or, when empty/absent in `info.labels`, deletes) one; anything else is InvalidArgument. Without:
   * replaces all labels.
   */
  update(info: InfoUpdate, fieldpaths?: string[]): Promise<Info>;
  /** Usage: computed now for an active snapshot, the value stored at commit for a committed one, zero for a view. */
  usage(key: string): Promise<Usage>;
  /** Mounts of an active or view snapshot (FailedPrecondition for a committed one). */
  mounts(key: string): Promise<Mount[]>;
  /** Creates the active snapshot `key` on top of the committed `parent` (or empty). */
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  /** Creates the read-only view `key` of the committed `parent` (or empty). */
  view(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  /** Turns the active snapshot `key` into the committed snapshot `name` (labels replaced, not inherited); `key` disappears. */
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;
  /** Removes `key` and its directory. */
  remove(key: string): Promise<void>;
  /** Calls `fn` for every snapshot matching any of `filters` (containerd filter syntax), in key order. */
  walk(fn: (info: Info) => void | Promise<void>, filters?: string[]): Promise<void>;
  /** Removes backend directories that no snapshot record owns (leftovers of crashes). */
  cleanup(): Promise<void>;
}

/** Names of the snapshotters this service runs. */
export type SnapshotterName = 'overlayfs' | 'native';

/** Every snapshotter name. */
export const SNAPSHOTTER_NAMES: readonly SnapshotterName[] = ['overlayfs', 'native'];

/** Bus service name of the snapshotter process. */
export const SNAPSHOTTER_SERVICE = 'snapshotter';

/** Bus method of the List stream. */
export const LIST_METHOD = 'List';

/** Infos per List stream message (containerd's snapshots service sends batches of 100 too). */
export const LIST_BATCH = 100;

/** Every request names its backend. */
interface Targeted {
  snapshotter: string;
}

/** The snapshotter service's unary bus contract. */
export type SnapshotterContract = {
  Prepare: { req: Targeted & { key: string; parent?: string; labels?: Record<string, string> }; res: { mounts: Mount[] } };
  View: { req: Targeted & { key: string; parent?: string; labels?: Record<string, string> }; res: { mounts: Mount[] } };
  Mounts: { req: Targeted & { key: string }; res: { mounts: Mount[] } };
  Commit: { req: Targeted & { name: string; key: string; labels?: Record<string, string> }; res: Record<string, never> };
  Remove: { req: Targeted & { key: string }; res: Record<string, never> };
  Stat: { req: Targeted & { key: string }; res: { info: Info } };
  Update: { req: Targeted & { info: InfoUpdate; update_mask?: string[] }; res: { info: Info } };
  Usage: { req: Targeted & { key: string }; res: Usage };
  Cleanup: { req: Targeted; res: Record<string, never> };
};

/** Opening message of the `List` stream; each data message the server sends is a {@link ListBatch}. */
export type ListRequest = Targeted & { filters?: string[] };

/** One message of the `List` stream: up to {@link LIST_BATCH} infos. */
export interface ListBatch {
  info: Info[];
}
