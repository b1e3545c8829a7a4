/** containerd's GC labels (docs/garbage-collection.md of containerd, written in our words). */

/** A content or snapshot carrying this label is a GC root. */
export const LABEL_ROOT = 'containerd.io/gc.root';
/** On a lease: RFC 3339 time after which the lease no longer protects anything. */
export const LABEL_EXPIRE = 'containerd.io/gc.expire';
/** On a lease: objects it holds are kept, but their label references are not followed. */
export const LABEL_FLAT = 'containerd.io/gc.flat';
/** Prefix of labels whose value is a content digest the object references. */
export const PREFIX_REF_CONTENT = 'containerd.io/gc.ref.content';
/** Prefix of labels `containerd.io/gc.ref.snapshot.<snapshotter>` whose value is a snapshot key. */
export const PREFIX_REF_SNAPSHOT = 'containerd.io/gc.ref.snapshot.';

/** A node of the reference graph. */
export type GcNode = { kind: 'content'; digest: string } | { kind: 'snapshot'; snapshotter: string; key: string };

/** The nodes `labels` reference. */
export function labelReferences(labels: Record<string, string> | undefined): GcNode[] {
  const out: GcNode[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (!v) continue;
    if (k.startsWith(PREFIX_REF_CONTENT)) out.push({ kind: 'content', digest: v });
    else if (k.startsWith(PREFIX_REF_SNAPSHOT)) {
      const sn = k.slice(PREFIX_REF_SNAPSHOT.length);
      if (sn) out.push({ kind: 'snapshot', snapshotter: sn, key: v });
    }
  }
  return out;
}

/** Whether a lease with these labels has expired at `now` (unparseable times never expire). */
export function leaseExpired(labels: Record<string, string> | undefined, now: number): boolean {
  const t = leaseExpiry(labels);
  return t !== undefined && t <= now;
}

/** The expiry time (ms) of a lease, if it has a valid one. */
export function leaseExpiry(labels: Record<string, string> | undefined): number | undefined {
  const v = labels?.[LABEL_EXPIRE];
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}
