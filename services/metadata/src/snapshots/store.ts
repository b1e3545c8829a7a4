/**
 * The namespaced view of the snapshotters (containerd's metadata/snapshot.go semantics).
 *
 * Records in the `objects` database:
 *   [<ns>, "snapshots", <snapshotter>, <key>]            → SnapshotRecord
 *   [<ns>, "snapchild", <snapshotter>, <parent>, <key>]  → 1   (children, for "has children")
 *
 * Backend keys are `<ns>/<random id>/<key>`, so namespaces never collide in a backend. The backend object
 * is created before its record (and removed again if the record cannot be written); removing a
 * snapshot removes the record only — the backend object goes at the next garbage collection.
 */
import { alreadyExists, failedPrecondition, invalidArgument, notFound, validateLabels } from '@flotilla/api';
import { adaptObject, parseFilters } from '@flotilla/filters';
import type { MetadataEnv } from '../lmdb/environment.js';
import { kindRange, prefixRange } from '../lmdb/keys.js';
import { updateLabels } from '../lmdb/labels-update.js';
import { addToLease } from '../lmdb/leases.js';
import type { Mount, SnapshotInfo, SnapshotKind, SnapshotStore } from '../types.js';
import type { SnapshotBackend } from './backend.js';
import { markDirtySnapshot } from '../gc/collector.js';
import { randomBytes } from 'node:crypto';

/** A snapshot as stored. */
export interface SnapshotRecord {
  backendKey: string;
  parent?: string;
  kind: SnapshotKind;
  labels: Record<string, string>;
  created_at: number;
  updated_at: number;
}

/** Labels with this prefix are passed on to the backend (containerd's inheritable snapshot labels). */
const BACKEND_LABEL_PREFIX = 'containerd.io/snapshot/';

const backendLabels = (labels: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries(labels).filter(([k]) => k.startsWith(BACKEND_LABEL_PREFIX)));

/** containerd's NotFound for a missing snapshot (metadata/snapshot.go: `snapshot %v does not exist`). */
const snapshotMissing = (key: string) => notFound(`snapshot ${key} does not exist`);

/** A key to look up: containerd answers NotFound for an empty one, like for any missing key. */
function lookupKey(key: unknown): string {
  if (typeof key !== 'string') throw invalidArgument('snapshot key must be a string');
  if (key === '') throw snapshotMissing(key);
  return key;
}

function requireKey(key: unknown, what = 'key'): string {
  if (typeof key !== 'string' || key === '') throw invalidArgument(`snapshot ${what} must not be empty`);
  return key;
}

/** SnapshotStore on the metadata env, driving `backend`. */
export class MetadataSnapshotStore implements SnapshotStore {
  constructor(
    private readonly env: MetadataEnv,
    private readonly backend: (opts?: object) => SnapshotBackend,
    private readonly onDelete: () => void = () => undefined,
  ) {}

  private rec(ns: string, sn: string, key: string): SnapshotRecord | undefined {
    return this.env.objects.get([ns, 'snapshots', sn, key]) as SnapshotRecord | undefined;
  }

  private info(key: string, r: SnapshotRecord): SnapshotInfo {
    return { name: key, parent: r.parent || undefined, kind: r.kind, labels: { ...r.labels }, created_at: r.created_at, updated_at: r.updated_at };
  }

  private nextBackendKey(ns: string, key: string): string {
    // A random id keeps backend keys unique across namespaces, restarts and replicas.
    return `${ns}/${randomBytes(8).toString('hex')}/${key}`;
  }

  private async create(kind: 'active' | 'view', ns: string, sn: string, key: string, parent?: string, labels: Record<string, string> = {}, lease?: string): Promise<Mount[]> {
    requireKey(key);
    validateLabels(labels);
    if (this.rec(ns, sn, key)) throw alreadyExists(`snapshot ${JSON.stringify(key)}`);
    let bparent: string | undefined;
    if (parent) {
      const p = this.rec(ns, sn, parent);
      if (!p) throw notFound(`parent snapshot ${parent} does not exist`);
      if (p.kind !== 'committed') throw invalidArgument(`failed to create snapshot: parent ${JSON.stringify(p.backendKey)} is not committed snapshot`);
      bparent = p.backendKey;
    }
    const bkey = this.nextBackendKey(ns, key);
    const b = this.backend();
    const mounts = kind === 'active' ? await b.prepare(sn, bkey, bparent, backendLabels(labels)) : await b.view(sn, bkey, bparent, backendLabels(labels));
    try {
      await this.env.write(() => {
        if (this.rec(ns, sn, key)) throw alreadyExists(`snapshot ${JSON.stringify(key)}`);
        if (parent && !this.rec(ns, sn, parent)) throw notFound(`parent snapshot ${parent} does not exist`);
        if (lease) addToLease(this.env, ns, lease, { type: `snapshots/${sn}`, id: key });
        const now = Date.now();
        this.env.objects.put([ns, 'snapshots', sn, key], { backendKey: bkey, parent, kind, labels: { ...labels }, created_at: now, updated_at: now } satisfies SnapshotRecord);
        if (parent) this.env.objects.put([ns, 'snapchild', sn, parent, key], 1);
      });
    } catch (err) {
      await b.remove(sn, bkey).catch(() => undefined);
      throw err;
    }
    return mounts;
  }

  prepare(ns: string, sn: string, key: string, parent?: string, labels?: Record<string, string>, lease?: string): Promise<Mount[]> {
    return this.create('active', ns, sn, key, parent, labels, lease);
  }

  view(ns: string, sn: string, key: string, parent?: string, labels?: Record<string, string>, lease?: string): Promise<Mount[]> {
    return this.create('view', ns, sn, key, parent, labels, lease);
  }

  async mounts(ns: string, sn: string, key: string): Promise<Mount[]> {
    const r = this.rec(ns, sn, lookupKey(key));
    if (!r) throw snapshotMissing(key);
    return this.backend().mounts(sn, r.backendKey);
  }

  async commit(ns: string, sn: string, name: string, key: string, labels: Record<string, string> = {}, lease?: string): Promise<void> {
    requireKey(name, 'name');
    lookupKey(key);
    validateLabels(labels);
    // containerd checks the new name before the key.
    if (this.rec(ns, sn, name)) throw alreadyExists(`snapshot ${JSON.stringify(name)}`);
    const r = this.rec(ns, sn, key);
    if (!r) throw snapshotMissing(key);
    if (r.kind !== 'active') throw failedPrecondition(`failed to commit snapshot: snapshot ${JSON.stringify(r.backendKey)} is not active`);
    const bname = this.nextBackendKey(ns, name);
    await this.backend().commit(sn, bname, r.backendKey, backendLabels(labels));
    await this.env.write(() => {
      const now = Date.now();
      this.env.objects.remove([ns, 'snapshots', sn, key]);
      if (r.parent) {
        this.env.objects.remove([ns, 'snapchild', sn, r.parent, key]);
        this.env.objects.put([ns, 'snapchild', sn, r.parent, name], 1);
      }
      if (lease) addToLease(this.env, ns, lease, { type: `snapshots/${sn}`, id: name });
      this.env.objects.put([ns, 'snapshots', sn, name], { backendKey: bname, parent: r.parent, kind: 'committed', labels: { ...labels }, created_at: now, updated_at: now } satisfies SnapshotRecord);
    });
  }

  async remove(ns: string, sn: string, key: string): Promise<void> {
    lookupKey(key);
    await this.env.write(() => {
      const r = this.rec(ns, sn, key);
      if (!r) throw snapshotMissing(key);
      for (const _ of this.env.objects.getKeys({ ...prefixRange([ns, 'snapchild', sn, key]), limit: 1 })) {
        throw failedPrecondition('cannot remove snapshot with child');
      }
      this.env.objects.remove([ns, 'snapshots', sn, key]);
      if (r.parent) this.env.objects.remove([ns, 'snapchild', sn, r.parent, key]);
      markDirtySnapshot(this.env, sn, r.backendKey);
    });
    this.onDelete();
  }

  async stat(ns: string, sn: string, key: string): Promise<SnapshotInfo> {
    const r = this.rec(ns, sn, lookupKey(key));
    if (!r) throw snapshotMissing(key);
    return this.info(key, r);
  }

  async update(ns: string, sn: string, info: { name: string; labels?: Record<string, string> }, paths: string[] = []): Promise<SnapshotInfo> {
    const key = requireKey(info?.name, 'name');
    let out!: SnapshotInfo;
    await this.env.write(() => {
      const r = this.rec(ns, sn, key);
      if (!r) throw snapshotMissing(key);
      const labels = updateLabels(r.labels, info.labels, paths, `snapshot ${JSON.stringify(key)}`);
      const next = { ...r, labels, updated_at: Date.now() };
      this.env.objects.put([ns, 'snapshots', sn, key], next);
      out = this.info(key, next);
    });
    return out;
  }

  async list(ns: string, sn: string, filters: string[] = []): Promise<SnapshotInfo[]> {
    const f = parseFilters(filters);
    const out: SnapshotInfo[] = [];
    for (const { key, value } of this.env.objects.getRange({ start: [ns, 'snapshots', sn], end: [ns, 'snapshots', sn, '\uffff'] })) {
      const info = this.info(String(key[3]), value as SnapshotRecord);
      if (f.match(adaptObject({ name: info.name, parent: info.parent ?? '', kind: info.kind, labels: info.labels }))) out.push(info);
    }
    return out;
  }

  async usage(ns: string, sn: string, key: string): Promise<{ size: number; inodes: number }> {
    const r = this.rec(ns, sn, lookupKey(key));
    if (!r) throw snapshotMissing(key);
    return this.backend().usage(sn, r.backendKey);
  }
}

/** Every snapshotter name with records in `ns` (for namespace-empty checks and fsck). */
export function snapshotKindRange(ns: string) {
  return kindRange(ns, 'snapshots');
}
