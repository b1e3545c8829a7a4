/** Namespaced content records on LMDB (containerd's `v1/<ns>/content/blob/<digest>`). */
import { alreadyExists, notFound, validateDigest, validateLabels } from '@flotilla/api';
import { adaptObject, parseFilters } from '@flotilla/filters';
import type { ContentInfo, ContentStore } from '../types.js';
import type { MetadataEnv } from './environment.js';
import { kindRange } from './keys.js';
import { updateLabels } from './labels-update.js';
import { addToLease } from './leases.js';
import { markDirtyContent } from '../gc/collector.js';

/** A content record as stored. */
interface ContentRecord {
  size: number;
  labels: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

const toInfo = (digest: string, r: ContentRecord): ContentInfo => ({
  digest,
  size: r.size,
  created_at: r.createdAt,
  updated_at: r.updatedAt,
  labels: { ...r.labels },
});

/** ContentStore on the metadata LMDB env. */
export class LmdbContentStore implements ContentStore {
  constructor(
    private readonly env: MetadataEnv,
    private readonly onDelete: () => void = () => undefined,
  ) {}

  private get(ns: string, digest: string): ContentRecord | undefined {
    return this.env.objects.get([ns, 'content', digest]) as ContentRecord | undefined;
  }

  async info(ns: string, digest: string): Promise<ContentInfo> {
    validateDigest(digest);
    const r = this.get(ns, digest);
    if (!r) throw notFound(`content digest ${digest}`);
    return toInfo(digest, r);
  }

  async update(ns: string, info: { digest: string; labels?: Record<string, string> }, paths?: string[]): Promise<ContentInfo> {
    const digest = validateDigest(info?.digest);
    let out!: ContentInfo;
    await this.env.write(() => {
      const r = this.get(ns, digest);
      if (!r) throw notFound(`content digest ${digest}`);
      const labels = updateLabels(r.labels, info.labels, paths, `content info ${JSON.stringify(digest)}`);
      const next = { ...r, labels, updatedAt: Date.now() };
      this.env.objects.put([ns, 'content', digest], next);
      out = toInfo(digest, next);
    });
    return out;
  }

  async list(ns: string, filters: string[] = []): Promise<ContentInfo[]> {
    const f = parseFilters(filters);
    const out: ContentInfo[] = [];
    for (const { key, value } of this.env.objects.getRange(kindRange(ns, 'content'))) {
      const info = toInfo(String(key[2]), value as ContentRecord);
      if (f.match(adaptObject({ digest: info.digest, size: String(info.size), labels: info.labels }))) out.push(info);
    }
    return out;
  }

  async delete(ns: string, digest: string): Promise<void> {
    validateDigest(digest);
    await this.env.write(() => {
      if (!this.get(ns, digest)) throw notFound(`content digest ${digest}`);
      this.env.objects.remove([ns, 'content', digest]);
      markDirtyContent(this.env, digest);
    });
    this.onDelete();
  }

  async register(
    ns: string,
    req: { digest: string; size: number; labels?: Record<string, string>; exclusive?: boolean },
    lease?: string,
  ): Promise<ContentInfo> {
    const digest = validateDigest(req?.digest);
    validateLabels(req.labels);
    let out!: ContentInfo;
    await this.env.write(() => {
      const existing = this.get(ns, digest);
      if (existing && req.exclusive) throw alreadyExists(`content ${digest}`);
      if (lease) addToLease(this.env, ns, lease, { type: 'content', id: digest });
      if (existing) {
        out = toInfo(digest, existing);
        return;
      }
      const now = Date.now();
      const rec: ContentRecord = { size: req.size, labels: { ...(req.labels ?? {}) }, createdAt: now, updatedAt: now };
      this.env.objects.put([ns, 'content', digest], rec);
      out = toInfo(digest, rec);
    });
    return out;
  }
}
