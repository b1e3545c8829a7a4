/** Bus handlers of `Leases.*`. */
import type { LeaseResource, LeaseStore } from '../types.js';
import { callerNamespace, optionalLabels, optionalStrings, requireString, type HandlersOf } from './common.js';

function resourceArg(v: unknown): LeaseResource {
  const r = (v ?? {}) as LeaseResource;
  return { id: requireString(r.id, 'resource.id'), type: requireString(r.type, 'resource.type') };
}

/** `Leases.*` over `store`; `afterDelete(sync)` lets GC run (and be awaited when `sync`). */
export function leaseHandlers(
  store: LeaseStore,
  afterDelete: (sync: boolean) => Promise<void> = async () => undefined,
): HandlersOf<'Leases.Create' | 'Leases.Delete' | 'Leases.List' | 'Leases.AddResource' | 'Leases.DeleteResource' | 'Leases.ListResources'> {
  return {
    'Leases.Create': async (req, ctx) => ({ lease: await store.create(callerNamespace(ctx), requireString(req?.id, 'id'), optionalLabels(req.labels)) }),
    'Leases.Delete': async (req, ctx) => {
      await store.delete(callerNamespace(ctx), requireString(req?.id, 'id'));
      await afterDelete(!!req.sync);
      return {};
    },
    'Leases.List': async (req, ctx) => ({ leases: await store.list(callerNamespace(ctx), optionalStrings(req?.filters, 'filters')) }),
    'Leases.AddResource': async (req, ctx) => {
      await store.addResource(callerNamespace(ctx), requireString(req?.id, 'id'), resourceArg(req.resource));
      return {};
    },
    'Leases.DeleteResource': async (req, ctx) => {
      await store.deleteResource(callerNamespace(ctx), requireString(req?.id, 'id'), resourceArg(req.resource));
      return {};
    },
    'Leases.ListResources': async (req, ctx) => ({ resources: await store.listResources(callerNamespace(ctx), requireString(req?.id, 'id')) }),
  };
}
