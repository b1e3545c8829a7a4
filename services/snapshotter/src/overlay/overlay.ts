/**
 * The overlayfs snapshotter (containerd `snapshots/overlay/overlay.go`, release/1.6).
 *
 * Layout under `<root>` = `<flotilla root>/io.containerd.snapshotter.v1.overlayfs`:
 *
 *   snapshots/<id>/fs      0755  the snapshot's layer (upperdir while active); owner copied from the parent's fs
 *   snapshots/<id>/work    0711  overlay workdir (active snapshots only)
 *
 * Mounts:
 * - no parent: `bind <fs>` with `rw` (active) or `ro` (view), `rbind`;
 * - active with parents: `overlay` with [`index=off`,] [`userxattr`,] `workdir=`, `upperdir=`,
 *   `lowerdir=<parent fs>:<grandparent fs>:…`;
 * - view of one parent: `bind <parent fs>` `ro`, `rbind` (the view's own fs stays unused);
 * - view of several: `overlay` with [`index=off`,] [`userxattr`,] `lowerdir=` only (read-only by construction).
 */
import { chmod, lchown, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotRef } from '../storage/metastore.js';
import type { Info, Kind, Mount } from '../types.js';
import { LocalSnapshotter, type LocalSnapshotterOptions } from '../local/local-snapshotter.js';
import { needsUserXattr, supportsIndexOff } from './support.js';

/** Label containerd adds with `upperdir_label = true`: where a snapshot's layer lives. */
export const UPPERDIR_LABEL = 'containerd.io/snapshot/overlay.upperdir';

/** Options of the overlayfs snapshotter. */
export interface OverlayOptions extends LocalSnapshotterOptions {
  /** Report {@link UPPERDIR_LABEL} on Stat, Update and Walk (containerd `upperdir_label`). */
  upperdirLabel?: boolean;
  /** Add `index=off` to overlay mounts; default: when the kernel's overlay has an `index` parameter. */
  indexOff?: boolean;
  /** Add `userxattr` to overlay mounts; default: containerd's `NeedsUserXAttr` rule. */
  userxattr?: boolean;
}

/** Snapshots as overlayfs layers. */
export class OverlaySnapshotter extends LocalSnapshotter {
  private readonly upperdirLabel: boolean;
  private readonly indexOff: boolean;
  private readonly userxattr: boolean;

  constructor(o: OverlayOptions) {
    super(o);
    this.upperdirLabel = !!o.upperdirLabel;
    this.indexOff = o.indexOff ?? supportsIndexOff();
    this.userxattr = o.userxattr ?? needsUserXattr(o.root);
  }

  /** `snapshots/<id>/fs`: the layer, upperdir of an active snapshot. */
  upperPath(id: number | string): string {
    return join(this.snapshotDir(id), 'fs');
  }

  /** `snapshots/<id>/work`: the overlay workdir of an active snapshot. */
  workPath(id: number | string): string {
    return join(this.snapshotDir(id), 'work');
  }

  protected async makeDirectory(id: number, kind: Kind, parentIds: number[]): Promise<void> {
    await mkdir(this.snapshotDir(id), { mode: 0o700 });
    await mkdir(this.upperPath(id));
    await chmod(this.upperPath(id), 0o755); // whatever the umask
    if (kind === 'active') await mkdir(this.workPath(id), { mode: 0o711 });
    if (parentIds.length > 0) {
      const st = await stat(this.upperPath(parentIds[0]!));
      await lchown(this.upperPath(id), st.uid, st.gid);
    }
  }

  protected usagePath(id: number): string {
    return this.upperPath(id);
  }

  protected override get mountsErrorContext(): string {
    return 'failed to get active mount';
  }

  protected mountsOf(s: SnapshotRef): Mount[] {
    if (s.parentIds.length === 0) {
      return [{ type: 'bind', source: this.upperPath(s.id), options: [s.kind === 'view' ? 'ro' : 'rw', 'rbind'] }];
    }
    const options: string[] = [];
    if (this.indexOff) options.push('index=off');
    if (this.userxattr) options.push('userxattr');
    if (s.kind === 'active') {
      options.push(`workdir=${this.workPath(s.id)}`, `upperdir=${this.upperPath(s.id)}`);
    } else if (s.parentIds.length === 1) {
      return [{ type: 'bind', source: this.upperPath(s.parentIds[0]!), options: ['ro', 'rbind'] }];
    }
    options.push(`lowerdir=${s.parentIds.map((p) => this.upperPath(p)).join(':')}`);
    return [{ type: 'overlay', source: 'overlay', options }];
  }

  protected override decorate(info: Info, id: number): Info {
    if (this.upperdirLabel) info.labels[UPPERDIR_LABEL] = this.upperPath(id);
    return info;
  }
}
