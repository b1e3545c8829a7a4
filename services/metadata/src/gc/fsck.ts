/**
 * `flotilla fsck`: checks that metadata never points at missing backend data (ARCHITECTURE §3)
 * and lists backend objects nothing references (orphans GC has not removed, e.g. after a crash
 * between a backend write and its record).
 */
import type { Bus } from '@flotilla/bus';
import type { MetadataEnv } from '../lmdb/environment.js';
import { kindRange } from '../lmdb/keys.js';
import { namespacesOf } from './collector.js';

/** One finding. */
export interface FsckProblem {
  /** `missing-blob`: a content record without its blob; `missing-snapshot`: a snapshot record without its backend snapshot; `dangling-image`, `dangling-container`: a reference to a record that does not exist. */
  kind: 'missing-blob' | 'missing-snapshot' | 'dangling-image' | 'dangling-container' | 'dangling-parent';
  namespace: string;
  id: string;
  detail?: string;
}

/** The report. */
export interface FsckReport {
  problems: FsckProblem[];
  /** Blobs in the content backend that no record references and no deletion is pending for. */
  orphanBlobs: string[];
  /** Backend snapshots no record references. */
  orphanSnapshots: { snapshotter: string; key: string }[];
  checked: { content: number; snapshots: number; images: number; containers: number };
}

interface SnapRec {
  backendKey: string;
  parent?: string;
}

/** Runs the check against the live backends over the bus. */
export async function fsck(env: MetadataEnv, bus: Bus, snapshotters: string[]): Promise<FsckReport> {
  const report: FsckReport = { problems: [], orphanBlobs: [], orphanSnapshots: [], checked: { content: 0, snapshots: 0, images: 0, containers: 0 } };
  const blobs = new Set<string>();
  for await (const b of bus.openStream<never, { digest: string }>('content', 'Walk', {})) blobs.add(b.digest);
  const backendSnaps = new Map<string, Set<string>>();
  for (const sn of snapshotters) {
    const keys = new Set<string>();
    try {
      for await (const batch of bus.openStream<never, { info: { name: string }[] }>('snapshotter', 'List', { snapshotter: sn })) {
        for (const i of batch.info) keys.add(i.name);
      }
      backendSnaps.set(sn, keys);
    } catch {
      /* a snapshotter that is not loaded has nothing to check */
    }
  }
  const referencedBlobs = new Set<string>();
  const referencedSnaps = new Set<string>();
  // Namespaces without objects have nothing to check.
  for (const ns of namespacesOf(env)) {
    for (const { key } of env.objects.getRange(kindRange(ns, 'content'))) {
      const digest = String(key[2]);
      report.checked.content++;
      referencedBlobs.add(digest);
      if (!blobs.has(digest)) report.problems.push({ kind: 'missing-blob', namespace: ns, id: digest });
    }
    for (const { key, value } of env.objects.getRange(kindRange(ns, 'snapshots'))) {
      const sn = String(key[2]);
      const skey = String(key[3]);
      const rec = value as SnapRec;
      report.checked.snapshots++;
      referencedSnaps.add(`${sn}\u0000${rec.backendKey}`);
      const have = backendSnaps.get(sn);
      if (have && !have.has(rec.backendKey)) report.problems.push({ kind: 'missing-snapshot', namespace: ns, id: `${sn}/${skey}`, detail: rec.backendKey });
      if (rec.parent && env.objects.get([ns, 'snapshots', sn, rec.parent]) === undefined) {
        report.problems.push({ kind: 'dangling-parent', namespace: ns, id: `${sn}/${skey}`, detail: rec.parent });
      }
    }
    for (const { value } of env.objects.getRange(kindRange(ns, 'images'))) {
      const img = value as { name: string; target: { digest: string } };
      report.checked.images++;
      if (env.objects.get([ns, 'content', img.target.digest]) === undefined) {
        report.problems.push({ kind: 'dangling-image', namespace: ns, id: img.name, detail: img.target.digest });
      }
    }
    for (const { value } of env.objects.getRange(kindRange(ns, 'containers'))) {
      const c = value as { id: string; snapshotter?: string; snapshot_key?: string };
      report.checked.containers++;
      if (c.snapshotter && c.snapshot_key && env.objects.get([ns, 'snapshots', c.snapshotter, c.snapshot_key]) === undefined) {
        report.problems.push({ kind: 'dangling-container', namespace: ns, id: c.id, detail: `${c.snapshotter}/${c.snapshot_key}` });
      }
    }
  }
  const dirty = new Set<string>();
  for (const key of env.meta.getKeys({ start: ['dirty-content'], end: ['dirty-content', '\uffff'] })) dirty.add(String(key[1]));
  for (const d of blobs) if (!referencedBlobs.has(d) && !dirty.has(d)) report.orphanBlobs.push(d);
  for (const [sn, keys] of backendSnaps) {
    for (const k of keys) if (!referencedSnaps.has(`${sn}\u0000${k}`) && env.meta.get(['dirty-snapshot', sn, k]) === undefined) report.orphanSnapshots.push({ snapshotter: sn, key: k });
  }
  return report;
}
