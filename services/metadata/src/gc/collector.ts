/**
 * Mark and sweep over the metadata records of every namespace (containerd's GC model): roots are
 * live leases and what they hold, images' targets, `gc.root` objects and containers' snapshots;
 * edges are `gc.ref.*` labels and snapshot parents. Unreachable records are removed in the same
 * write transaction; the caller then deletes backend objects that no namespace references.
 */
import type { MetadataEnv } from '../lmdb/environment.js';
import { kindRange, prefixRange } from '../lmdb/keys.js';
import { LABEL_FLAT, LABEL_ROOT, labelReferences, leaseExpired, leaseExpiry, type GcNode } from './labels.js';

/** What a collection removed, and the backend objects now waiting for deletion. */
export interface GcResult {
  /** Content records removed, per namespace. */
  content: { ns: string; digest: string }[];
  /** Snapshot records removed (namespace, snapshotter, key, backend key). */
  snapshots: { ns: string; snapshotter: string; key: string; backendKey: string }[];
  /** Blobs whose last record went (by this sweep or an earlier delete) and that no namespace references. */
  dirtyContent: string[];
  /** Backend snapshots whose record went. */
  dirtySnapshots: { snapshotter: string; backendKey: string }[];
  /** Expired leases removed. */
  leases: { ns: string; id: string }[];
  /** Earliest future lease expiry (ms), for the time trigger. */
  nextExpiry?: number;
  /** Milliseconds the write transaction was held. */
  pauseMs: number;
}

interface Labeled {
  labels?: Record<string, string>;
}

/** A snapshot record as the metadata snapshot store keeps it (parent is a namespaced key). */
export interface SnapshotRecordView extends Labeled {
  parent?: string;
  backendKey: string;
}

const nodeId = (ns: string, n: GcNode) => (n.kind === 'content' ? `${ns}\u0000c\u0000${n.digest}` : `${ns}\u0000s\u0000${n.snapshotter}\u0000${n.key}`);

/** Namespaces that hold any object (each found with one key lookup, skipping over its objects). */
export function namespacesOf(env: MetadataEnv): string[] {
  const out: string[] = [];
  let next: (string | number)[] = [];
  for (;;) {
    let found: string | undefined;
    for (const key of env.objects.getKeys({ start: next, limit: 1 })) found = String(key[0]);
    if (found === undefined) return out;
    out.push(found);
    next = [found, '\uffff'];
  }
}

/** Runs one collection inside one write transaction. */
export async function collectGarbage(env: MetadataEnv, now = Date.now()): Promise<GcResult> {
  const result: GcResult = { content: [], snapshots: [], leases: [], dirtyContent: [], dirtySnapshots: [], pauseMs: 0 };
  await env.write(() => {
    const started = Date.now();
    const marked = new Set<string>();
    const flat = new Set<string>();
    for (const ns of namespacesOf(env)) {
      const queue: GcNode[] = [];
      const root = (n: GcNode, isFlat = false) => {
        const id = nodeId(ns, n);
        if (isFlat) flat.add(id);
        if (!marked.has(id)) {
          marked.add(id);
          queue.push(n);
        }
      };
      // Leases.
      for (const { key, value } of env.objects.getRange(kindRange(ns, 'leases'))) {
        const id = String(key[2]);
        const labels = (value as Labeled).labels;
        if (leaseExpired(labels, now)) {
          result.leases.push({ ns, id });
          continue;
        }
        const exp = leaseExpiry(labels);
        if (exp !== undefined && (result.nextExpiry === undefined || exp < result.nextExpiry)) result.nextExpiry = exp;
        const isFlat = labels?.[LABEL_FLAT] !== undefined;
        for (const rk of env.objects.getKeys(prefixRange([ns, 'leasedby', id]))) {
          const type = String(rk[3]);
          const rid = String(rk[4]);
          if (type === 'content') root({ kind: 'content', digest: rid }, isFlat);
          else if (type.startsWith('snapshots/')) root({ kind: 'snapshot', snapshotter: type.slice('snapshots/'.length), key: rid }, isFlat);
        }
      }
      // Images.
      for (const { value } of env.objects.getRange(kindRange(ns, 'images'))) {
        const img = value as Labeled & { target: { digest: string } };
        root({ kind: 'content', digest: img.target.digest });
        for (const r of labelReferences(img.labels)) root(r);
      }
      // Containers.
      for (const { value } of env.objects.getRange(kindRange(ns, 'containers'))) {
        const c = value as Labeled & { snapshotter?: string; snapshot_key?: string };
        if (c.snapshotter && c.snapshot_key) root({ kind: 'snapshot', snapshotter: c.snapshotter, key: c.snapshot_key });
        for (const r of labelReferences(c.labels)) root(r);
      }
      // gc.root objects.
      for (const { key, value } of env.objects.getRange(kindRange(ns, 'content'))) {
        if ((value as Labeled).labels?.[LABEL_ROOT] !== undefined) root({ kind: 'content', digest: String(key[2]) });
      }
      for (const { key, value } of env.objects.getRange(kindRange(ns, 'snapshots'))) {
        if ((value as Labeled).labels?.[LABEL_ROOT] !== undefined) root({ kind: 'snapshot', snapshotter: String(key[2]), key: String(key[3]) });
      }
      // Mark.
      while (queue.length > 0) {
        const n = queue.pop() as GcNode;
        const id = nodeId(ns, n);
        if (n.kind === 'content') {
          const rec = env.objects.get([ns, 'content', n.digest]) as Labeled | undefined;
          if (rec && !flat.has(id)) for (const r of labelReferences(rec.labels)) root(r);
        } else {
          const rec = env.objects.get([ns, 'snapshots', n.snapshotter, n.key]) as SnapshotRecordView | undefined;
          if (!rec) continue;
          if (rec.parent) root({ kind: 'snapshot', snapshotter: n.snapshotter, key: rec.parent }); // parents always
          if (!flat.has(id)) for (const r of labelReferences(rec.labels)) root(r);
        }
      }
      // Sweep.
      for (const { key } of env.objects.getRange(kindRange(ns, 'content'))) {
        const digest = String(key[2]);
        if (!marked.has(nodeId(ns, { kind: 'content', digest }))) {
          env.objects.remove(key);
          markDirtyContent(env, digest);
          result.content.push({ ns, digest });
        }
      }
      for (const { key, value } of env.objects.getRange(kindRange(ns, 'snapshots'))) {
        const snapshotter = String(key[2]);
        const skey = String(key[3]);
        if (!marked.has(nodeId(ns, { kind: 'snapshot', snapshotter, key: skey }))) {
          const rec = value as SnapshotRecordView & { parent?: string };
          env.objects.remove(key);
          if (rec.parent) env.objects.remove([ns, 'snapchild', snapshotter, rec.parent, skey]);
          markDirtySnapshot(env, snapshotter, rec.backendKey);
          result.snapshots.push({ ns, snapshotter, key: skey, backendKey: rec.backendKey });
        }
      }
    }
    for (const { ns, id } of result.leases) {
      env.objects.remove([ns, 'leases', id]);
      for (const rk of env.objects.getKeys(prefixRange([ns, 'leasedby', id]))) env.objects.remove(rk);
    }
    for (const key of env.meta.getKeys({ start: ['dirty-content'], end: ['dirty-content', '\uffff'] })) {
      const digest = String(key[1]);
      if (contentReferenced(env, digest)) env.meta.remove(key);
      else result.dirtyContent.push(digest);
    }
    for (const key of env.meta.getKeys({ start: ['dirty-snapshot'], end: ['dirty-snapshot', '\uffff'] })) {
      result.dirtySnapshots.push({ snapshotter: String(key[1]), backendKey: String(key[2]) });
    }
    result.pauseMs = Date.now() - started;
  });
  return result;
}

/**
 * Marks a blob whose record went as waiting for backend deletion (in the caller's transaction).
 * Dirty marks live in the `meta` database: ["dirty-content", <digest>], ["dirty-snapshot", <snapshotter>, <backend key>].
 */
export function markDirtyContent(env: MetadataEnv, digest: string): void {
  env.meta.put(['dirty-content', digest], 1);
}

/** Marks a backend snapshot whose record went as waiting for removal (in the caller's transaction). */
export function markDirtySnapshot(env: MetadataEnv, snapshotter: string, backendKey: string): void {
  env.meta.put(['dirty-snapshot', snapshotter, backendKey], 1);
}

/** Clears a dirty mark once the backend object is gone. */
export function clearDirty(env: MetadataEnv, key: string[]): Promise<unknown> {
  return env.write(() => env.meta.remove(key));
}

/** Whether any namespace still records `digest`. */
export function contentReferenced(env: MetadataEnv, digest: string): boolean {
  for (const ns of namespacesOf(env)) if (env.objects.get([ns, 'content', digest]) !== undefined) return true;
  return false;
}
