/** Bus adapter of the metadata service: decode, validate, call the store, publish events. */
import { invalidArgument } from '@flotilla/api';
import type { Bus, CallContext, UnaryHandler } from '@flotilla/bus';
import { METADATA_SERVICE, type MetadataContract, type Namespace, type NamespaceStore } from './types.js';

type Handlers = { [M in keyof MetadataContract]: UnaryHandler<MetadataContract[M]['req'], MetadataContract[M]['res']> };

function requireString(v: unknown, field: string): string {
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string`);
  return v;
}

function requireNamespace(v: unknown): Namespace {
  if (!v || typeof v !== 'object') throw invalidArgument('namespace is required');
  const ns = v as Namespace;
  const labels = ns.labels ?? {};
  if (typeof labels !== 'object') throw invalidArgument('namespace labels must be a map');
  return { name: requireString(ns.name, 'namespace.name'), labels };
}

/**
 * containerd publishes create/update events in the caller's namespace (`ctr` sends `default`) and
 * delete events in the deleted one; a caller without a namespace gets the event in the affected
 * namespace (containerd would fail the call after saving).
 */
function eventNamespace(ctx: CallContext, affected: string): string {
  return ctx.namespace ?? affected;
}

/** The metadata handlers over `namespaces`, publishing `/namespaces/*` events on `bus`. */
export function metadataHandlers(bus: Bus, namespaces: NamespaceStore): Handlers {
  const event = (topic: string, ns: string, type: string, value: Record<string, unknown>) =>
    bus.publishEvent(topic, ns, { type_url: `containerd.events.${type}`, value });
  return {
    'Namespaces.Get': async (req) => ({ namespace: await namespaces.get(requireString(req?.name, 'name')) }),
    'Namespaces.List': async () => ({ namespaces: await namespaces.list() }),
    'Namespaces.Create': async (req, ctx) => {
      const ns = requireNamespace(req?.namespace);
      const created = await namespaces.create(ns.name, ns.labels);
      event('/namespaces/create', eventNamespace(ctx, created.name), 'NamespaceCreate', { name: created.name, labels: created.labels });
      return { namespace: created };
    },
    'Namespaces.Update': async (req, ctx) => {
      const ns = requireNamespace(req?.namespace);
      const mask = req.update_mask ?? [];
      if (!Array.isArray(mask) || mask.some((p) => typeof p !== 'string')) throw invalidArgument('update_mask must be a list of strings');
      const updated = await namespaces.update(ns.name, ns.labels, mask);
      event('/namespaces/update', eventNamespace(ctx, updated.name), 'NamespaceUpdate', { name: updated.name, labels: updated.labels });
      return { namespace: updated };
    },
    'Namespaces.Delete': async (req) => {
      const name = requireString(req?.name, 'name');
      await namespaces.delete(name);
      event('/namespaces/delete', name, 'NamespaceDelete', { name });
      return {};
    },
  };
}

/** Serves the metadata service on the bus. */
export function serveMetadata(bus: Bus, namespaces: NamespaceStore): void {
  bus.serve(METADATA_SERVICE, { unary: metadataHandlers(bus, namespaces) as Record<string, UnaryHandler> });
}
