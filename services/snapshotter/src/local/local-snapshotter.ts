/**
 * What the overlayfs and native snapshotters share: snapshots are directories
 * `<root>/snapshots/<id>` named by numeric id, recorded in the plugin's own {@link MetaStore}
 * (`<root>/metadata.lmdb`). Keys never become paths.
 *
 * Layout:
 *
 *   <root>/                      0700 (e.g. /var/lib/flotilla/io.containerd.snapshotter.v1.overlayfs)
 *     metadata.lmdb, metadata.lmdb-lock
 *     snapshots/                 0700
 *       <id>/…                   one per snapshot; what is inside is the backend's business
 *
 * Atomicity (ARCHITECTURE §5): a snapshot's directory is made first, then its record is written in
 * one LMDB transaction; if that fails the directory is removed again. Remove deletes the record,
 * then the directory. A crash between the two steps leaves a directory without a record, which
 * {@link LocalSnapshotter.cleanup} removes. Commit measures usage before recording it.
 *
 * One process owns a root: ids are handed out in memory (above every id recorded and every
 * directory name found at open), and `cleanup` only spares creations of this process. Replicas of
 * the snapshotter service must therefore use separate roots.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { alreadyExists, codeOf, failedPrecondition, FlotillaError, invalidArgument, messageOf } from '@flotilla/api';
import { silentLogger, type Logger } from '@flotilla/log';
import { diskUsage } from '../storage/disk-usage.js';
import { MetaStore, cleanLabels, validateKey, type SnapshotRef } from '../storage/metastore.js';
import type { Info, InfoUpdate, Kind, Mount, Snapshotter, Usage } from '../types.js';

/** Options every local snapshotter takes. */
export interface LocalSnapshotterOptions {
  /** The plugin root, e.g. `<root>/io.containerd.snapshotter.v1.overlayfs`. */
  root: string;
  /** LMDB map size of the metastore. */
  mapSizeMb?: number;
  /** Skip fsync on metastore commits (tests, benchmarks). */
  noSync?: boolean;
  log?: Logger;
}

/** A snapshotter keeping each snapshot in `<root>/snapshots/<id>`. */
export abstract class LocalSnapshotter implements Snapshotter {
  /** The plugin root. */
  readonly root: string;
  /** `<root>/snapshots`. */
  readonly snapshotsDir: string;
  protected readonly ms: MetaStore;
  protected readonly log: Logger;
  /** Directory names being created right now: `cleanup` leaves them alone. */
  private readonly creating = new Set<string>();
  /** Highest numeric directory name found at open. */
  private readonly floor: number;

  constructor(o: LocalSnapshotterOptions) {
    this.root = o.root;
    this.snapshotsDir = join(o.root, 'snapshots');
    this.log = o.log ?? silentLogger();
    mkdirSync(this.snapshotsDir, { recursive: true, mode: 0o700 });
    this.ms = new MetaStore({ file: join(o.root, 'metadata.lmdb'), mapSizeMb: o.mapSizeMb, noSync: o.noSync });
    let floor = 0;
    for (const n of readdirSync(this.snapshotsDir)) if (/^[0-9]+$/.test(n)) floor = Math.max(floor, Number(n));
    this.floor = floor;
  }

  /** `<root>/snapshots/<id>`. */
  snapshotDir(id: number | string): string {
    return join(this.snapshotsDir, String(id));
  }

  /** Creates the directory of a new snapshot `id` (or nothing, when the kind needs none). */
  protected abstract makeDirectory(id: number, kind: Kind, parentIds: number[]): Promise<void>;
  /** Mounts of an active or view snapshot. */
  protected abstract mountsOf(ref: SnapshotRef): Mount[];
  /** The directory whose usage an active snapshot reports (and a commit records). */
  protected abstract usagePath(id: number): string;
  /** Adds backend-specific data to an Info on its way out (overlayfs' upperdir label). */
  protected decorate(info: Info, _id: number): Info {
    return info;
  }

  async stat(key: string): Promise<Info> {
    validateKey(key);
    const { id, info } = this.ms.getInfo(key);
    return this.decorate(info, id);
  }

  async update(info: InfoUpdate, fieldpaths?: string[]): Promise<Info> {
    if (!info || typeof info !== 'object') throw invalidArgument('info is required');
    validateKey(info.name, 'name');
    const r = await this.ms.updateInfo(info, fieldpaths ?? []);
    return this.decorate(r.info, r.id);
  }

  async usage(key: string): Promise<Usage> {
    validateKey(key);
    const { id, info, usage } = this.ms.getInfo(key);
    if (info.kind === 'active') return diskUsage(this.usagePath(id));
    return usage;
  }

  async mounts(key: string): Promise<Mount[]> {
    validateKey(key);
    let ref: SnapshotRef;
    try {
      ref = this.ms.getSnapshot(key);
    } catch (err) {
      // containerd wraps this per snapshotter (overlayfs: "failed to get active mount", native: "failed to get snapshot mount").
      throw new FlotillaError(codeOf(err), `${this.mountsErrorContext}: ${messageOf(err)}`, { cause: err });
    }
    return this.mountsOf(ref);
  }

  /** The context containerd's snapshotter puts before a Mounts error. */
  protected get mountsErrorContext(): string {
    return 'failed to get snapshot mount';
  }

  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
    return this.create('active', key, parent, labels);
  }

  view(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
    return this.create('view', key, parent, labels);
  }

  async commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    validateKey(key);
    validateKey(name, 'name');
    cleanLabels(labels);
    // The checks CommitActive makes, in its order, before the (possibly long) usage walk.
    const { id, info } = this.ms.getInfo(key);
    if (this.ms.exists(name)) throw alreadyExists(`committed snapshot ${JSON.stringify(name)}`);
    if (info.kind !== 'active') throw failedPrecondition(`snapshot ${JSON.stringify(key)} is not active`);
    const usage = await diskUsage(this.usagePath(id));
    await this.ms.commitActive(key, name, usage, labels, id);
  }

  async remove(key: string): Promise<void> {
    validateKey(key);
    const { id } = await this.ms.remove(key);
    // The record is gone: failing to delete the directory leaves an orphan for cleanup(), not an error.
    await rm(this.snapshotDir(id), { recursive: true, force: true }).catch((err) =>
      this.log.warn({ err, id }, 'failed to remove snapshot directory; cleanup will retry'),
    );
  }

  async walk(fn: (info: Info) => void | Promise<void>, filters?: string[]): Promise<void> {
    for (const { id, info } of this.ms.walk(filters ?? [])) await fn(this.decorate(info, id));
  }

  async cleanup(): Promise<void> {
    const names = await readdir(this.snapshotsDir);
    // Decide in one synchronous step: a creation either still holds its name in `creating` or its
    // record is already committed and visible to this read.
    const ids = this.ms.ids();
    const orphans = names.filter((n) => !ids.has(n) && !this.creating.has(n));
    for (const n of orphans) {
      await rm(join(this.snapshotsDir, n), { recursive: true, force: true }).catch((err) =>
        this.log.warn({ err, path: n }, 'failed to remove orphan snapshot directory'),
      );
    }
  }

  /** Directory names (ids) that snapshot records own. */
  recordedIds(): Set<string> {
    return this.ms.ids();
  }

  /** Closes the metastore. */
  async close(): Promise<void> {
    await this.ms.close();
  }

  private async create(kind: Kind, key: string, parent: string | undefined, labels: Record<string, string> | undefined): Promise<Mount[]> {
    validateKey(key);
    if (parent !== undefined && parent !== '') validateKey(parent, 'parent');
    const p = parent || undefined;
    cleanLabels(labels);
    // Fail fast (no directory work) on the errors the transaction would raise anyway.
    const parentIds = this.ms.checkCreate(key, p);
    const id = this.ms.allocateId(this.floor);
    const name = String(id);
    this.creating.add(name);
    try {
      let ref: SnapshotRef;
      try {
        await this.makeDirectory(id, kind, parentIds);
        ref = await this.ms.createSnapshot(kind, key, p, labels, id);
      } catch (err) {
        await rm(this.snapshotDir(id), { recursive: true, force: true }).catch((e) =>
          this.log.error({ err: e, id }, 'failed to reclaim snapshot directory; cleanup will retry'),
        );
        throw err;
      }
      return this.mountsOf(ref);
    } finally {
      this.creating.delete(name);
    }
  }
}
