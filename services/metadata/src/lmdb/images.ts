/** Images on LMDB (containerd's `v1/<ns>/images/<name>`). */
import { alreadyExists, invalidArgument, notFound, validateDigest, validateLabels } from '@flotilla/api';
import { adaptObject, parseFilters } from '@flotilla/filters';
import type { Descriptor, Image, ImageStore } from '../types.js';
import type { MetadataEnv } from './environment.js';
import { kindRange } from './keys.js';
import { updateLabels } from './labels-update.js';

type ImageInput = Omit<Image, 'created_at' | 'updated_at'>;

/** Checks an image as containerd's metadata store does before writing it. */
export function validateImage(image: ImageInput): void {
  if (!image || typeof image.name !== 'string' || image.name === '') throw invalidArgument('image name must not be empty');
  validateLabels(image.labels);
  validateTarget(image.target, image.name);
}

function validateTarget(t: Descriptor | undefined, name: string): void {
  if (!t) throw invalidArgument(`image ${JSON.stringify(name)}: target must be set`);
  try {
    validateDigest(t.digest);
  } catch {
    throw invalidArgument(`image ${JSON.stringify(name)}: target digest ${JSON.stringify(t.digest)} invalid`);
  }
  if (!t.media_type) throw invalidArgument(`image ${JSON.stringify(name)}: target mediatype must not be empty`);
  if (!(Number(t.size) > 0)) throw invalidArgument(`image ${JSON.stringify(name)}: target size must be greater than zero`);
  validateLabels(t.annotations);
}

const copy = (i: Image): Image => ({ ...i, labels: { ...i.labels }, target: { ...i.target, annotations: { ...(i.target.annotations ?? {}) } } });

/** ImageStore on the metadata LMDB env. */
export class LmdbImageStore implements ImageStore {
  constructor(
    private readonly env: MetadataEnv,
    private readonly onDelete: () => void = () => undefined,
  ) {}

  private read(ns: string, name: string): Image | undefined {
    return this.env.objects.get([ns, 'images', name]) as Image | undefined;
  }

  async get(ns: string, name: string): Promise<Image> {
    const i = this.read(ns, name);
    if (!i) throw notFound(`image ${JSON.stringify(name)}`);
    return copy(i);
  }

  async list(ns: string, filters: string[] = []): Promise<Image[]> {
    const f = parseFilters(filters);
    const out: Image[] = [];
    for (const { value } of this.env.objects.getRange(kindRange(ns, 'images'))) {
      const i = value as Image;
      const view = { name: i.name, labels: i.labels, target: { digest: i.target.digest, mediatype: i.target.media_type } };
      if (f.match(adaptObject(view))) out.push(copy(i));
    }
    return out;
  }

  async create(ns: string, image: ImageInput): Promise<Image> {
    validateImage(image);
    const now = Date.now();
    const rec: Image = { name: image.name, labels: { ...(image.labels ?? {}) }, target: { ...image.target, size: Number(image.target.size) }, created_at: now, updated_at: now };
    await this.env.write(() => {
      if (this.read(ns, image.name)) throw alreadyExists(`image ${JSON.stringify(image.name)}`);
      this.env.objects.put([ns, 'images', image.name], rec);
    });
    return copy(rec);
  }

  async update(ns: string, image: ImageInput, paths: string[] = []): Promise<Image> {
    if (!image?.name) throw invalidArgument('image name must not be empty');
    let out!: Image;
    await this.env.write(() => {
      const cur = this.read(ns, image.name);
      if (!cur) throw notFound(`image ${JSON.stringify(image.name)}`);
      const next: Image = copy(cur);
      if (paths.length === 0) {
        next.labels = updateLabels(cur.labels, image.labels, [], `image ${JSON.stringify(image.name)}`);
        validateTarget(image.target, image.name);
        next.target = { ...image.target, size: Number(image.target.size) };
      }
      for (const p of paths) {
        if (p === 'labels' || p.startsWith('labels.')) next.labels = updateLabels(next.labels, image.labels, [p], `image ${JSON.stringify(image.name)}`);
        else if (p === 'target') {
          validateTarget(image.target, image.name);
          next.target = { ...image.target, size: Number(image.target.size) };
        } else if (p === 'annotations' || p.startsWith('annotations.')) {
          const sub = p === 'annotations' ? ['labels'] : ['labels.' + p.slice('annotations.'.length)];
          next.target.annotations = updateLabels(next.target.annotations ?? {}, image.target?.annotations, sub, `image ${JSON.stringify(image.name)}`);
        } else throw invalidArgument(`cannot update ${JSON.stringify(p)} field on image ${JSON.stringify(image.name)}`);
      }
      next.updated_at = Date.now();
      this.env.objects.put([ns, 'images', image.name], next);
      out = copy(next);
    });
    return out;
  }

  async delete(ns: string, name: string): Promise<void> {
    await this.env.write(() => {
      if (!this.read(ns, name)) throw notFound(`image ${JSON.stringify(name)}`);
      this.env.objects.remove([ns, 'images', name]);
    });
    this.onDelete();
  }
}
