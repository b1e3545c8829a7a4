/** containerd.services.namespaces.v1.Namespaces, backed by the metadata service. */
import { invalidArgument } from '@flotilla/api';
import { NamespacesClient, type Namespace } from '@flotilla/metadata';
import type * as grpc from '@grpc/grpc-js';
import { busOptions, retryIdempotent } from '../call-options.js';
import type { GatewayContext } from '../gateway-context.js';
import { unary } from '../status.js';

type Call = grpc.ServerUnaryCall<any, any>;

function labelsOf(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object') throw invalidArgument('labels must be a map');
  return v as Record<string, string>;
}

function nsOf(v: unknown): Namespace {
  const ns = (v ?? {}) as { name?: string; labels?: unknown };
  return { name: ns.name ?? '', labels: labelsOf(ns.labels) };
}

/** The Namespaces service implementation. */
export function namespacesService(g: GatewayContext) {
  const client = (call: Call) => {
    const o = busOptions(call, g.config.defaultTimeoutMs);
    return { store: new NamespacesClient(g.bus, () => o), deadline: o.deadline };
  };
  return {
    Get: unary(g.log, 'Namespaces.Get', async (req: { name: string }, call) => {
      const { store, deadline } = client(call);
      return { namespace: await retryIdempotent(deadline, () => store.get(req.name)) };
    }),
    List: unary(g.log, 'Namespaces.List', async (_req: { filter?: string }, call) => {
      const { store, deadline } = client(call);
      return { namespaces: await retryIdempotent(deadline, () => store.list()) };
    }),
    Create: unary(g.log, 'Namespaces.Create', async (req: { namespace?: unknown }, call) => {
      const ns = nsOf(req.namespace);
      return { namespace: await client(call).store.create(ns.name, ns.labels) };
    }),
    Update: unary(g.log, 'Namespaces.Update', async (req: { namespace?: unknown; update_mask?: { paths?: string[] } }, call) => {
      const ns = nsOf(req.namespace);
      return { namespace: await client(call).store.update(ns.name, ns.labels, req.update_mask?.paths ?? []) };
    }),
    Delete: unary(g.log, 'Namespaces.Delete', async (req: { name: string }, call) => {
      await client(call).store.delete(req.name);
      return {};
    }),
  };
}
