/**
 * The native snapshotter (containerd `snapshots/native/native.go`): every snapshot is a full
 * directory tree; preparing on a parent copies the parent's tree.
 *
 * Layout under `<root>` = `<flotilla root>/io.containerd.snapshotter.v1.native`:
 *
 *   snapshots/<id>/   the snapshot's tree (root snapshots: an empty 0755 directory; with a parent:
 *                     a copy of the parent's tree, see copy-tree.ts). A view of a parent has no
 *                     directory of its own: it mounts the parent's, read-only.
 *
 * Mounts are always one `bind` with `rbind` and `rw` (active) or `ro` (view), in containerd's order.
 */
import { chmod, mkdir } from 'node:fs/promises';
import type { SnapshotRef } from '../storage/metastore.js';
import type { Kind, Mount } from '../types.js';
import { LocalSnapshotter, type LocalSnapshotterOptions } from '../local/local-snapshotter.js';
import { copyTree } from './copy-tree.js';

/** Options of the native snapshotter. */
export type NativeOptions = LocalSnapshotterOptions;

/** Snapshots as full copies. */
export class NativeSnapshotter extends LocalSnapshotter {
  constructor(o: NativeOptions) {
    super(o);
  }

  protected async makeDirectory(id: number, kind: Kind, parentIds: number[]): Promise<void> {
    if (parentIds.length === 0) {
      await mkdir(this.snapshotDir(id));
      await chmod(this.snapshotDir(id), 0o755); // whatever the umask
      return;
    }
    if (kind === 'view') return; // reads the parent's directory
    await copyTree(this.snapshotDir(parentIds[0]!), this.snapshotDir(id));
  }

  protected usagePath(id: number): string {
    return this.snapshotDir(id);
  }

  protected mountsOf(s: SnapshotRef): Mount[] {
    const source = s.parentIds.length === 0 || s.kind === 'active' ? this.snapshotDir(s.id) : this.snapshotDir(s.parentIds[0]!);
    return [{ type: 'bind', source, options: ['rbind', s.kind === 'view' ? 'ro' : 'rw'] }];
  }
}
