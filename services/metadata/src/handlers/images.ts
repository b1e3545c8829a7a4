/** Bus handlers of `Images.*`. */
import { invalidArgument } from '@flotilla/api';
import type { Bus } from '@flotilla/bus';
import type { Image, ImageStore } from '../types.js';
import { callerNamespace, optionalLabels, optionalStrings, publisher, requireString, type HandlersOf } from './common.js';

type ImageInput = Omit<Image, 'created_at' | 'updated_at'>;

function imageArg(v: unknown): ImageInput {
  if (!v || typeof v !== 'object') throw invalidArgument('image must be set');
  const i = v as ImageInput;
  const t = (i.target ?? {}) as ImageInput['target'];
  return {
    name: typeof i.name === 'string' ? i.name : '',
    labels: optionalLabels(i.labels),
    target: { media_type: t.media_type ?? '', digest: t.digest ?? '', size: Number(t.size ?? 0), annotations: optionalLabels(t.annotations, 'target.annotations') },
  };
}

/** `Images.*` over `store`, publishing `/images/*`; `collect(sync)` runs after a delete. */
export function imageHandlers(
  bus: Bus,
  store: ImageStore,
  collect: (sync: boolean) => Promise<void> = async () => undefined,
): HandlersOf<'Images.Get' | 'Images.List' | 'Images.Create' | 'Images.Update' | 'Images.Delete'> {
  const event = publisher(bus);
  return {
    'Images.Get': async (req, ctx) => ({ image: await store.get(callerNamespace(ctx), requireString(req?.name, 'name')) }),
    'Images.List': async (req, ctx) => ({ images: await store.list(callerNamespace(ctx), optionalStrings(req?.filters, 'filters')) }),
    'Images.Create': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      const image = await store.create(ns, imageArg(req?.image));
      event('/images/create', ns, 'ImageCreate', { name: image.name, labels: image.labels });
      return { image };
    },
    'Images.Update': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      const image = await store.update(ns, imageArg(req?.image), optionalStrings(req.update_mask, 'update_mask'));
      event('/images/update', ns, 'ImageUpdate', { name: image.name, labels: image.labels });
      return { image };
    },
    'Images.Delete': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      const name = requireString(req?.name, 'name');
      await store.delete(ns, name);
      event('/images/delete', ns, 'ImageDelete', { name });
      await collect(!!req.sync);
      return {};
    },
  };
}
