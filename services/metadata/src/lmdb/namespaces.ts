/** Namespaces on LMDB with containerd's semantics. */
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  messageOf,
  notFound,
  isIdentifier,
  validateIdentifier,
  validateLabels,
} from '@flotilla/api';
import type { Namespace, NamespaceStore } from '../types.js';
import type { MetadataEnv } from './environment.js';

/** Object kinds whose presence keeps a namespace from being deleted, as containerd names them. */
const KIND_NAMES: Record<string, string> = {
  images: 'images',
  content: 'blobs',
  snapshots: 'snapshots',
  containers: 'containers',
  leases: 'leases',
  sandboxes: 'sandboxes',
};

/** NamespaceStore on the metadata LMDB env. */
export class LmdbNamespaceStore implements NamespaceStore {
  constructor(private readonly env: MetadataEnv) {}

  async get(name: string): Promise<Namespace> {
    // No namespace can exist under an invalid name: like containerd, answer with empty labels.
    const rec = this.env.namespaces.get(name);
    return { name, labels: { ...(rec?.labels ?? {}) } };
  }

  async list(): Promise<Namespace[]> {
    const out: Namespace[] = [];
    for (const { key, value } of this.env.namespaces.getRange({})) out.push({ name: key, labels: { ...value.labels } });
    return out;
  }

  async create(name: string, labels: Record<string, string>): Promise<Namespace> {
    validateIdentifier(name);
    try {
      validateLabels(labels);
    } catch (err) {
      throw invalidArgument(`namespace.Labels: ${messageOf(err).replace(/: invalid argument$/, '')}`, err);
    }
    const clean = { ...(labels ?? {}) };
    await this.env.write(() => {
      if (this.env.namespaces.get(name) !== undefined) throw alreadyExists(`namespace ${JSON.stringify(name)}`);
      const now = Date.now();
      this.env.namespaces.put(name, { labels: clean, createdAt: now, updatedAt: now });
    });
    return { name, labels: clean };
  }

  async update(name: string, labels: Record<string, string>, paths?: string[]): Promise<Namespace> {
    validateIdentifier(name);
    labels = labels ?? {};
    validateLabels(labels);
    const setKeys: string[] = [];
    if (paths && paths.length > 0) {
      for (const p of paths) {
        if (p.startsWith('labels.')) setKeys.push(p.slice('labels.'.length));
        else throw invalidArgument(`cannot update ${JSON.stringify(p)} field on namespace ${JSON.stringify(name)}`);
      }
    }
    let result!: Namespace;
    await this.env.write(() => {
      const now = Date.now();
      const rec = this.env.namespaces.get(name) ?? { labels: {}, createdAt: now, updatedAt: now };
      let next: Record<string, string>;
      if (paths && paths.length > 0) {
        next = { ...rec.labels };
        for (const k of setKeys) {
          const v = labels[k];
          if (v) next[k] = v;
          else delete next[k];
        }
      } else {
        next = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
      }
      this.env.namespaces.put(name, { labels: next, createdAt: rec.createdAt, updatedAt: now });
      result = { name, labels: { ...next } };
    });
    return result;
  }

  async delete(name: string): Promise<void> {
    // containerd answers NotFound for names that cannot exist (ctr then prints the name and exits 0).
    if (!isIdentifier(name)) throw notFound(`namespace ${JSON.stringify(name)}`);
    await this.env.write(() => {
      if (this.env.namespaces.get(name) === undefined) throw notFound(`namespace ${JSON.stringify(name)}`);
      const held: string[] = [];
      for (const kind of Object.keys(KIND_NAMES)) {
        for (const _ of this.env.objects.getKeys({ start: [name, kind], end: [name, kind, '\uffff'], limit: 1 })) {
          held.push(KIND_NAMES[kind]);
        }
      }
      if (held.length > 0) {
        throw failedPrecondition(`namespace ${JSON.stringify(name)} must be empty, but it still has ${held.join(', ')}`);
      }
      this.env.namespaces.remove(name);
    });
  }
}
