/** Bus handlers of `Content.*` (namespaced content records). */
import type { Bus } from '@flotilla/bus';
import type { ContentStore } from '../types.js';
import { callerNamespace, optionalLabels, optionalStrings, publisher, requireString, type HandlersOf } from './common.js';

/** `Content.*` over `store`, publishing `/content/delete`. */
export function contentHandlers(bus: Bus, store: ContentStore): HandlersOf<'Content.Info' | 'Content.Update' | 'Content.List' | 'Content.Delete' | 'Content.Register'> {
  const event = publisher(bus);
  return {
    'Content.Info': async (req, ctx) => ({ info: await store.info(callerNamespace(ctx), requireString(req?.digest, 'digest')) }),
    'Content.Update': async (req, ctx) => {
      const info = { digest: requireString(req?.info?.digest, 'info.digest'), labels: optionalLabels(req.info.labels) };
      return { info: await store.update(callerNamespace(ctx), info, optionalStrings(req.update_mask, 'update_mask')) };
    },
    'Content.List': async (req, ctx) => ({ infos: await store.list(callerNamespace(ctx), optionalStrings(req?.filters, 'filters')) }),
    'Content.Delete': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      const digest = requireString(req?.digest, 'digest');
      await store.delete(ns, digest);
      event('/content/delete', ns, 'ContentDelete', { digest });
      return {};
    },
    'Content.Register': async (req, ctx) => {
      const size = Number(req?.size);
      const info = await store.register(
        callerNamespace(ctx),
        { digest: requireString(req?.digest, 'digest'), size: Number.isFinite(size) ? size : 0, labels: optionalLabels(req.labels), exclusive: !!req.exclusive },
        ctx.lease,
      );
      return { info };
    },
  };
}
