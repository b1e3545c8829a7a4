/** Containers on LMDB (containerd's `v1/<ns>/containers/<id>`). */
import { alreadyExists, invalidArgument, notFound, validateIdentifier, validateLabels } from '@flotilla/api';
import { adaptObject, parseFilters } from '@flotilla/filters';
import type { Container, ContainerStore } from '../types.js';
import type { MetadataEnv } from './environment.js';
import { kindRange } from './keys.js';
import { updateLabels } from './labels-update.js';

type ContainerInput = Omit<Container, 'created_at' | 'updated_at'>;

/** Checks a container as containerd's metadata store does before writing it. */
export function validateContainer(c: ContainerInput): void {
  validateIdentifier(c?.id);
  validateLabels(c.labels);
  for (const k of Object.keys(c.extensions ?? {})) if (!k) throw invalidArgument('container.Extension keys must not be zero-length');
  if (!c.runtime?.name) throw invalidArgument('must specify a runtime name');
  if (!c.spec || !c.spec.type_url) throw invalidArgument('must specify a spec');
  if (c.snapshot_key && !c.snapshotter) throw invalidArgument('must specify a snapshotter with a snapshot key');
}

const copy = (c: Container): Container => ({ ...c, labels: { ...c.labels }, runtime: { ...c.runtime }, extensions: { ...c.extensions } });

/** ContainerStore on the metadata LMDB env. */
export class LmdbContainerStore implements ContainerStore {
  constructor(
    private readonly env: MetadataEnv,
    private readonly onDelete: () => void = () => undefined,
  ) {}

  private read(ns: string, id: string): Container | undefined {
    return this.env.objects.get([ns, 'containers', id]) as Container | undefined;
  }

  async get(ns: string, id: string): Promise<Container> {
    const c = this.read(ns, id);
    if (!c) throw notFound(`container ${JSON.stringify(id)} in namespace ${JSON.stringify(ns)}`);
    return copy(c);
  }

  async list(ns: string, filters: string[] = []): Promise<Container[]> {
    const f = parseFilters(filters);
    const out: Container[] = [];
    for (const { value } of this.env.objects.getRange(kindRange(ns, 'containers'))) {
      const c = value as Container;
      const view = { id: c.id, image: c.image, labels: c.labels, runtime: { name: c.runtime.name }, snapshotter: c.snapshotter, snapshotkey: c.snapshot_key };
      if (f.match(adaptObject(view))) out.push(copy(c));
    }
    return out;
  }

  async create(ns: string, c: ContainerInput): Promise<Container> {
    validateContainer(c);
    const now = Date.now();
    const rec: Container = {
      id: c.id,
      labels: { ...(c.labels ?? {}) },
      image: c.image ?? '',
      runtime: { name: c.runtime.name, ...(c.runtime.options ? { options: c.runtime.options } : {}) },
      spec: c.spec,
      snapshotter: c.snapshotter ?? '',
      snapshot_key: c.snapshot_key ?? '',
      extensions: { ...(c.extensions ?? {}) },
      created_at: now,
      updated_at: now,
    };
    await this.env.write(() => {
      if (this.read(ns, c.id)) throw alreadyExists(`container ${JSON.stringify(c.id)}`);
      this.env.objects.put([ns, 'containers', c.id], rec);
    });
    return copy(rec);
  }

  async update(ns: string, c: ContainerInput, paths: string[] = []): Promise<Container> {
    if (!c?.id) throw invalidArgument('must specify a container id');
    let out!: Container;
    await this.env.write(() => {
      const cur = this.read(ns, c.id);
      if (!cur) throw notFound(`container ${JSON.stringify(c.id)}`);
      const next = copy(cur);
      const what = `container ${JSON.stringify(c.id)}`;
      if (paths.length === 0) {
        if (c.runtime?.name && c.runtime.name !== cur.runtime.name) throw invalidArgument('container.Runtime.Name field is immutable');
        if ((c.snapshotter ?? '') !== cur.snapshotter) throw invalidArgument('container.Snapshotter field is immutable');
        paths = ['labels', 'spec', 'extensions', 'image', 'snapshotkey'];
      }
      for (const p of paths) {
        if (p === 'labels' || p.startsWith('labels.')) next.labels = updateLabels(next.labels, c.labels, [p], what);
        else if (p === 'extensions') next.extensions = { ...(c.extensions ?? {}) };
        else if (p.startsWith('extensions.')) {
          const k = p.slice('extensions.'.length);
          if (c.extensions?.[k]) next.extensions[k] = c.extensions[k];
          else delete next.extensions[k];
        } else if (p === 'spec') next.spec = c.spec;
        else if (p === 'image') next.image = c.image ?? '';
        else if (p === 'snapshotkey') next.snapshot_key = c.snapshot_key ?? '';
        else if (p === 'runtime') throw invalidArgument('container.Runtime field is immutable');
        else if (p === 'snapshotter') throw invalidArgument('container.Snapshotter field is immutable');
        else throw invalidArgument(`cannot update ${JSON.stringify(p)} field on ${what}`);
      }
      validateContainer(next);
      next.updated_at = Date.now();
      this.env.objects.put([ns, 'containers', c.id], next);
      out = copy(next);
    });
    return out;
  }

  async delete(ns: string, id: string): Promise<void> {
    await this.env.write(() => {
      if (!this.read(ns, id)) throw notFound(`container ${JSON.stringify(id)}`);
      this.env.objects.remove([ns, 'containers', id]);
    });
    this.onDelete();
  }
}
