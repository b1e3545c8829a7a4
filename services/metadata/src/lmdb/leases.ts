/** Leases on LMDB (containerd's `v1/<ns>/leases/<id>/{labels, content, snapshots, ingests}`). */
import { alreadyExists, invalidArgument, notFound, validateDigest, validateLabels } from '@flotilla/api';
import { adaptObject, parseFilters } from '@flotilla/filters';
import type { Lease, LeaseResource, LeaseStore } from '../types.js';
import type { MetadataEnv } from './environment.js';
import { kindRange, prefixRange } from './keys.js';

/** Longest lease id (LMDB keys are limited to 1978 bytes). */
export const MAX_LEASE_ID_BYTES = 1024;

/** A lease as stored. */
interface LeaseRecord {
  labels: Record<string, string>;
  createdAt: number;
}

/** Checks a lease resource's type and id (containerd: content, snapshots/<snapshotter>, ingests). */
export function validateResource(r: LeaseResource): void {
  if (!r || typeof r.type !== 'string' || typeof r.id !== 'string' || r.id === '') throw invalidArgument('resource id and type must be set');
  if (r.type === 'content') validateDigest(r.id);
  else if (r.type === 'ingests') return;
  else if (r.type.startsWith('snapshots/') && r.type.length > 'snapshots/'.length) return;
  else throw invalidArgument(`unsupported resource type ${r.type}`);
}

/** Adds a resource to a lease inside the caller's write transaction; NotFound if the lease is gone. */
export function addToLease(env: MetadataEnv, ns: string, lease: string, r: LeaseResource): void {
  if (env.objects.get([ns, 'leases', lease]) === undefined) throw notFound(`unable to find lease ${lease}`);
  env.objects.put([ns, 'leasedby', lease, r.type, r.id], 1);
}

/** LeaseStore on the metadata LMDB env. */
export class LmdbLeaseStore implements LeaseStore {
  constructor(
    private readonly env: MetadataEnv,
    private readonly onDelete: () => void = () => undefined,
    /** Told of each new lease's labels (the GC scheduler arms its expiry timer). */
    private readonly onCreate: (labels: Record<string, string>) => void = () => undefined,
  ) {}

  async create(ns: string, id: string, labels: Record<string, string> = {}): Promise<Lease> {
    // containerd accepts any non-empty lease id (`ctr images mount` uses the target path).
    if (typeof id !== 'string' || id === '') throw invalidArgument('lease id must be provided');
    if (Buffer.byteLength(id) > MAX_LEASE_ID_BYTES) throw invalidArgument(`lease id longer than ${MAX_LEASE_ID_BYTES} bytes`);
    validateLabels(labels);
    const rec: LeaseRecord = { labels: { ...labels }, createdAt: Date.now() };
    await this.env.write(() => {
      if (this.env.objects.get([ns, 'leases', id]) !== undefined) throw alreadyExists(`lease ${JSON.stringify(id)}`);
      this.env.objects.put([ns, 'leases', id], rec);
    });
    this.onCreate(rec.labels);
    return { id, created_at: rec.createdAt, labels: rec.labels };
  }

  async delete(ns: string, id: string): Promise<void> {
    await this.env.write(() => {
      if (this.env.objects.get([ns, 'leases', id]) === undefined) throw notFound(`lease ${JSON.stringify(id)}`);
      this.env.objects.remove([ns, 'leases', id]);
      for (const key of this.env.objects.getKeys(prefixRange([ns, 'leasedby', id]))) this.env.objects.remove(key);
    });
    this.onDelete();
  }

  async list(ns: string, filters: string[] = []): Promise<Lease[]> {
    const f = parseFilters(filters);
    const out: Lease[] = [];
    for (const { key, value } of this.env.objects.getRange(kindRange(ns, 'leases'))) {
      const r = value as LeaseRecord;
      const lease = { id: String(key[2]), created_at: r.createdAt, labels: { ...r.labels } };
      if (f.match(adaptObject(lease))) out.push(lease);
    }
    return out;
  }

  async addResource(ns: string, id: string, r: LeaseResource): Promise<void> {
    validateResource(r);
    await this.env.write(() => addToLease(this.env, ns, id, r));
  }

  async deleteResource(ns: string, id: string, r: LeaseResource): Promise<void> {
    validateResource(r);
    await this.env.write(() => {
      if (this.env.objects.get([ns, 'leases', id]) === undefined) throw notFound(`lease ${JSON.stringify(id)}`);
      this.env.objects.remove([ns, 'leasedby', id, r.type, r.id]);
    });
    this.onDelete();
  }

  async listResources(ns: string, id: string): Promise<LeaseResource[]> {
    if (this.env.objects.get([ns, 'leases', id]) === undefined) throw notFound(`lease ${JSON.stringify(id)}`);
    const out: LeaseResource[] = [];
    for (const key of this.env.objects.getKeys(prefixRange([ns, 'leasedby', id]))) out.push({ type: String(key[3]), id: String(key[4]) });
    return out;
  }
}
