/**
 * The metastore of one local snapshotter: which snapshots exist, their kinds, parents, labels and
 * numeric ids, in an LMDB environment of its own (containerd: `snapshots/storage/bolt.go`).
 *
 * Key tree of `<plugin root>/metadata.lmdb` (one LMDB file; lmdb-js keeps `metadata.lmdb-lock` beside it):
 *
 *   db "snapshots": <key | name>              → SnapshotRecord { id, kind, parent?, labels, createdAt,
 *                                                updatedAt, size?, inodes? }   (ordered-binary string key)
 *   db "children":  [<parent id>, <child id>] → <child key | name>   (backlinks; a prefix scan on
 *                                                [<id>] answers "has children?")
 *   db "meta":      "schema"                   → SCHEMA_VERSION
 *                   "lastId"                   → highest id ever handed out (ids are never reused)
 *
 * Keys are arbitrary strings: they are only ever LMDB keys. The snapshot's directory is named after
 * its numeric id (`snapshots/<id>`), as containerd does. Every mutation is one LMDB transaction
 * (`childTransaction`: batched with concurrent ones into one commit, rolled back alone on a throw);
 * its promise resolves after the commit is durable (unless `noSync`).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { Code, alreadyExists, failedPrecondition, invalidArgument, kindError, notFound, validateLabels } from '@flotilla/api';
import { parseFilters } from '@flotilla/filters';
import type { Info, Kind, Usage } from '../types.js';
import { adaptInfo } from './info-filter.js';

/** The schema version this code writes. */
export const SCHEMA_VERSION = 1;

/**
 * Longest key or name in UTF-8 bytes. LMDB keys are at most 1978 bytes; containerd has no limit of
 * its own (bbolt allows 32 KiB), but real keys (`extract-<nanos>-<rand> sha256:<chainid>`,
 * `<ns>/<seq>/<key>`) are far shorter.
 */
export const MAX_KEY_BYTES = 1900;

/** A snapshot as stored. */
export interface SnapshotRecord {
  id: number;
  kind: Kind;
  parent?: string;
  labels: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  /** Usage recorded at commit (committed snapshots only). */
  size?: number;
  inodes?: number;
}

/** An active or view snapshot with its parent chain (containerd's `storage.Snapshot`). */
export interface SnapshotRef {
  id: number;
  kind: Kind;
  /** Ids of the parent, grandparent, …, root. */
  parentIds: number[];
}

/** Options of a metastore. */
export interface MetaStoreOptions {
  /** Path of the LMDB file (its folder is created). */
  file: string;
  mapSizeMb?: number;
  noSync?: boolean;
}

/** Checks that `key` can name a snapshot. */
export function validateKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw invalidArgument(`snapshot ${what} must be a non-empty string`);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw invalidArgument(`snapshot ${what} longer than ${MAX_KEY_BYTES} bytes`);
}

/**
 * Validates `labels` (containerd's size rules) and returns them as stored: empty values dropped
 * (containerd's boltutil.WriteLabels does the same).
 */
export function cleanLabels(labels: Record<string, string> | undefined): Record<string, string> {
  if (labels !== undefined && (labels === null || typeof labels !== 'object' || Array.isArray(labels))) {
    throw invalidArgument('labels must be a map of strings');
  }
  validateLabels(labels);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) if (v !== '') out[k] = v;
  return out;
}

/** The metastore of one snapshotter. */
export class MetaStore {
  private readonly root: RootDatabase;
  private readonly snapshots: Database<SnapshotRecord, string>;
  private readonly children: Database<string, number[]>;
  private readonly meta: Database<number, string>;
  private lastId: number;

  constructor(o: MetaStoreOptions) {
    mkdirSync(dirname(o.file), { recursive: true, mode: 0o700 });
    this.root = open({ path: o.file, mapSize: (o.mapSizeMb ?? 256) * 1024 * 1024, noSync: !!o.noSync, maxDbs: 8 });
    this.snapshots = this.root.openDB<SnapshotRecord, string>({ name: 'snapshots' });
    this.children = this.root.openDB<string, number[]>({ name: 'children' });
    this.meta = this.root.openDB<number, string>({ name: 'meta' });
    if (this.meta.get('schema') === undefined) this.meta.putSync('schema', SCHEMA_VERSION);
    this.lastId = this.meta.get('lastId') ?? 0;
  }

  /**
   * Hands out a fresh id, above every id recorded and above `floor` (the highest directory name
   * found on disk, so a crash leftover is never reused). The id is persisted with the record.
   */
  allocateId(floor = 0): number {
    this.lastId = Math.max(this.lastId, floor) + 1;
    return this.lastId;
  }

  /** Whether `key` names a snapshot. */
  exists(key: string): boolean {
    return this.snapshots.doesExist(key);
  }

  /** Info, id and usage of `key`; NotFound when absent. */
  getInfo(key: string): { id: number; info: Info; usage: Usage } {
    const rec = this.snapshots.get(key);
    if (!rec) throw notFound(`snapshot ${JSON.stringify(key)} does not exist`);
    return { id: rec.id, info: toInfo(key, rec), usage: { size: rec.size ?? 0, inodes: rec.inodes ?? 0 } };
  }

  /** The active or view snapshot `key` with its parent chain; FailedPrecondition for a committed one. */
  getSnapshot(key: string): SnapshotRef {
    const rec = this.snapshots.get(key);
    if (!rec) throw notFound(`snapshot ${JSON.stringify(key)} does not exist`);
    if (rec.kind !== 'active' && rec.kind !== 'view') {
      throw failedPrecondition(`requested snapshot ${key} not active or view`);
    }
    return { id: rec.id, kind: rec.kind, parentIds: rec.parent ? this.chain(rec.parent) : [] };
  }

  /**
   * Checks, without writing, that `key` could be created on `parent`: the parent must exist
   * (NotFound) and be committed (InvalidArgument), the key must be free (AlreadyExists). Returns the
   * parent chain. `createSnapshot` checks again inside its transaction.
   */
  checkCreate(key: string, parent: string | undefined): number[] {
    let parentIds: number[] = [];
    if (parent) {
      const p = this.snapshots.get(parent);
      if (!p) throw notFound(`missing parent ${JSON.stringify(parent)}`);
      if (p.kind !== 'committed') throw invalidArgument(`parent ${JSON.stringify(parent)} is not committed snapshot`);
      parentIds = this.chain(parent);
    }
    if (this.snapshots.doesExist(key)) throw alreadyExists(`snapshot ${JSON.stringify(key)}`);
    return parentIds;
  }

  /** Records the active or view snapshot `key` with id `id` (its directory already exists). */
  async createSnapshot(kind: Kind, key: string, parent: string | undefined, labels: Record<string, string> | undefined, id: number): Promise<SnapshotRef> {
    if (kind !== 'active' && kind !== 'view') {
      throw invalidArgument(`snapshot type ${kind} invalid; only snapshots of type Active or View can be created`);
    }
    validateKey(key);
    const clean = cleanLabels(labels);
    return this.root.childTransaction(() => {
      const parentIds = this.checkCreate(key, parent);
      const now = Date.now();
      const rec: SnapshotRecord = { id, kind, labels: clean, createdAt: now, updatedAt: now };
      if (parent) rec.parent = parent;
      this.snapshots.put(key, rec);
      if (parentIds.length > 0) this.children.put([parentIds[0]!, id], key);
      if (id > (this.meta.get('lastId') ?? 0)) this.meta.put('lastId', id);
      return { id, kind, parentIds };
    });
  }

  /**
   * Turns the active `key` (whose id must still be `expectId`) into the committed `name` with
   * `usage`; labels are replaced, created/updated reset to now (containerd `CommitActive`).
   */
  async commitActive(key: string, name: string, usage: Usage, labels: Record<string, string> | undefined, expectId: number): Promise<number> {
    validateKey(name, 'name');
    const clean = cleanLabels(labels);
    return this.root.childTransaction(() => {
      if (this.snapshots.doesExist(name)) throw alreadyExists(`committed snapshot ${JSON.stringify(name)}`);
      const rec = this.snapshots.get(key);
      if (!rec) throw notFound(`failed to get active snapshot ${JSON.stringify(key)}`);
      if (rec.kind !== 'active') throw failedPrecondition(`snapshot ${JSON.stringify(key)} is not active`);
      if (rec.id !== expectId) throw kindError(Code.Aborted, `snapshot ${JSON.stringify(key)} was replaced during commit`);
      const now = Date.now();
      const committed: SnapshotRecord = { id: rec.id, kind: 'committed', labels: clean, createdAt: now, updatedAt: now, size: usage.size, inodes: usage.inodes };
      if (rec.parent) committed.parent = rec.parent;
      this.snapshots.put(name, committed);
      this.snapshots.remove(key);
      if (rec.parent) {
        const p = this.snapshots.get(rec.parent);
        if (!p) throw notFound(`missing parent ${JSON.stringify(rec.parent)} of snapshot ${JSON.stringify(key)}`);
        this.children.put([p.id, rec.id], name);
      }
      return rec.id;
    });
  }

  /** Removes the record of `key`: NotFound when absent, FailedPrecondition when it has children. */
  async remove(key: string): Promise<{ id: number; kind: Kind }> {
    return this.root.childTransaction(() => {
      const rec = this.snapshots.get(key);
      if (!rec) throw notFound(`snapshot ${JSON.stringify(key)}`);
      for (const _ of this.children.getKeys({ start: [rec.id], end: [rec.id + 1], limit: 1 })) {
        throw failedPrecondition(`cannot remove snapshot ${JSON.stringify(key)} with child`);
      }
      if (rec.parent) {
        const p = this.snapshots.get(rec.parent);
        if (!p) throw notFound(`parent ${JSON.stringify(rec.parent)} of snapshot ${JSON.stringify(key)}`);
        this.children.remove([p.id, rec.id]);
      }
      this.snapshots.remove(key);
      return { id: rec.id, kind: rec.kind };
    });
  }

  /** Updates labels (containerd `UpdateInfo`); see `Snapshotter.update`. */
  async updateInfo(update: { name: string; labels?: Record<string, string> }, fieldpaths: string[] = []): Promise<{ id: number; info: Info }> {
    const given = update.labels ?? {};
    if (typeof given !== 'object' || given === null || Array.isArray(given)) throw invalidArgument('labels must be a map of strings');
    validateLabels(given);
    return this.root.childTransaction(() => {
      const rec = this.snapshots.get(update.name);
      if (!rec) throw notFound(`snapshot ${JSON.stringify(update.name)} does not exist`);
      let labels: Record<string, string> = { ...rec.labels };
      if (fieldpaths.length > 0) {
        for (const path of fieldpaths) {
          if (path.startsWith('labels.')) {
            const k = path.slice('labels.'.length);
            labels[k] = given[k] ?? '';
          } else if (path === 'labels') {
            labels = { ...given };
          } else {
            throw invalidArgument(`cannot update ${JSON.stringify(path)} field on snapshot ${JSON.stringify(update.name)}`);
          }
        }
      } else {
        labels = { ...given };
      }
      const next: SnapshotRecord = { ...rec, labels: cleanLabels(labels), updatedAt: Math.max(Date.now(), rec.updatedAt) };
      this.snapshots.put(update.name, next);
      return { id: rec.id, info: toInfo(update.name, next) };
    });
  }

  /** Every snapshot matching any of `filters`, in key order, with its id. */
  walk(filters: string[] = []): { id: number; info: Info }[] {
    const filter = parseFilters(filters);
    const out: { id: number; info: Info }[] = [];
    for (const { key, value } of this.snapshots.getRange({})) {
      const info = toInfo(key, value);
      if (filter.match(adaptInfo(info))) out.push({ id: value.id, info });
    }
    return out;
  }

  /** Ids of every recorded snapshot, as directory names. */
  ids(): Set<string> {
    const out = new Set<string>();
    for (const { value } of this.snapshots.getRange({})) out.add(String(value.id));
    return out;
  }

  /** Closes the environment. */
  async close(): Promise<void> {
    await this.root.close();
  }

  /** Ids of `name` and its ancestors, nearest first. */
  private chain(name: string): number[] {
    const ids: number[] = [];
    let cur: string | undefined = name;
    while (cur) {
      const rec = this.snapshots.get(cur);
      if (!rec) throw notFound(`missing parent ${JSON.stringify(cur)}`);
      ids.push(rec.id);
      cur = rec.parent;
    }
    return ids;
  }
}

/** The Info of a stored record. */
function toInfo(name: string, rec: SnapshotRecord): Info {
  const info: Info = { name, kind: rec.kind, labels: { ...rec.labels }, created_at: rec.createdAt, updated_at: rec.updatedAt };
  if (rec.parent) info.parent = rec.parent;
  return info;
}
