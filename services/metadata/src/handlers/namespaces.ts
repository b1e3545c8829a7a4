/** Bus handlers of `Namespaces.*`. */
import { invalidArgument } from '@flotilla/api';
import type { Bus, CallContext } from '@flotilla/bus';
import type { Namespace, NamespaceStore } from '../types.js';
import { optionalLabels, optionalStrings, publisher, requireString, type HandlersOf } from './common.js';

function requireNamespaceArg(v: unknown): Namespace {
  if (!v || typeof v !== 'object') throw invalidArgument('namespace is required');
  const ns = v as Namespace;
  return { name: requireString(ns.name, 'namespace.name'), labels: optionalLabels(ns.labels, 'namespace labels') };
}

/**
 * containerd publishes create/update events in the caller's namespace (`ctr` sends `default`) and
 * delete events in the deleted one; a caller without a namespace gets the event in the affected
 * namespace (containerd would fail the call after saving).
 */
function eventNamespace(ctx: CallContext, affected: string): string {
  return ctx.namespace ?? affected;
}

/** `Namespaces.*` over `store`, publishing `/namespaces/*`. */
export function namespaceHandlers(bus: Bus, store: NamespaceStore): HandlersOf<'Namespaces.Get' | 'Namespaces.List' | 'Namespaces.Create' | 'Namespaces.Update' | 'Namespaces.Delete'> {
  const event = publisher(bus);
  return {
    'Namespaces.Get': async (req) => ({ namespace: await store.get(requireString(req?.name, 'name')) }),
    'Namespaces.List': async () => ({ namespaces: await store.list() }),
    'Namespaces.Create': async (req, ctx) => {
      const ns = requireNamespaceArg(req?.namespace);
      const created = await store.create(ns.name, ns.labels);
      event('/namespaces/create', eventNamespace(ctx, created.name), 'NamespaceCreate', { name: created.name, labels: created.labels });
      return { namespace: created };
    },
    'Namespaces.Update': async (req, ctx) => {
      const ns = requireNamespaceArg(req?.namespace);
      const updated = await store.update(ns.name, ns.labels, optionalStrings(req.update_mask, 'update_mask'));
      event('/namespaces/update', eventNamespace(ctx, updated.name), 'NamespaceUpdate', { name: updated.name, labels: updated.labels });
      return { namespace: updated };
    },
    'Namespaces.Delete': async (req) => {
      const name = requireString(req?.name, 'name');
      await store.delete(name);
      event('/namespaces/delete', name, 'NamespaceDelete', { name });
      return {};
    },
  };
}
