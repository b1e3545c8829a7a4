/** containerd.services.leases.v1.Leases, backed by the metadata service. */
import { randomBytes, randomInt } from 'node:crypto';
import { LeasesClient, type Lease } from '@flotilla/metadata';
import type * as grpc from '@grpc/grpc-js';
import { busOptions, requireNamespace, retryIdempotent } from '../call-options.js';
import type { GatewayContext } from '../gateway-context.js';
import { unary } from '../status.js';
import { toTimestamp } from '../timestamp.js';

type Call = grpc.ServerUnaryCall<any, any>;
type Resource = { id?: string; type?: string };

const leaseMessage = (l: Lease) => ({ id: l.id, created_at: toTimestamp(l.created_at), labels: l.labels });
const resourceOf = (r: Resource | undefined) => ({ id: r?.id ?? '', type: r?.type ?? '' });

/** containerd's `leases.WithRandomID()`: `<nanoseconds of the current second>-<3 random bytes, base64url>`. */
export function randomLeaseId(): string {
  const nanos = (Date.now() % 1000) * 1_000_000 + randomInt(1_000_000);
  return `${nanos}-${randomBytes(3).toString('base64url')}`;
}

/** The Leases service implementation. */
export function leasesService(g: GatewayContext) {
  const open = (call: Call) => {
    const ns = requireNamespace(call);
    const o = busOptions(call, g.config.defaultTimeoutMs);
    return { ns, store: new LeasesClient(g.bus, () => o), deadline: o.deadline };
  };
  return {
    Create: unary(g.log, 'Leases.Create', async (req: { id: string; labels?: Record<string, string> }, call) => {
      const { ns, store } = open(call);
      // containerd's lease service gives a lease without an id a random one (`ctr leases create` without --id).
      return { lease: leaseMessage(await store.create(ns, req.id || randomLeaseId(), req.labels ?? {})) };
    }),
    Delete: unary(g.log, 'Leases.Delete', async (req: { id: string; sync?: boolean }, call) => {
      const { ns, store } = open(call);
      await store.delete(ns, req.id, !!req.sync);
      return {};
    }),
    List: unary(g.log, 'Leases.List', async (req: { filters?: string[] }, call) => {
      const { ns, store, deadline } = open(call);
      return { leases: (await retryIdempotent(deadline, () => store.list(ns, req.filters ?? []))).map(leaseMessage) };
    }),
    AddResource: unary(g.log, 'Leases.AddResource', async (req: { id: string; resource?: Resource }, call) => {
      const { ns, store } = open(call);
      await store.addResource(ns, req.id, resourceOf(req.resource));
      return {};
    }),
    DeleteResource: unary(g.log, 'Leases.DeleteResource', async (req: { id: string; resource?: Resource }, call) => {
      const { ns, store } = open(call);
      await store.deleteResource(ns, req.id, resourceOf(req.resource));
      return {};
    }),
    ListResources: unary(g.log, 'Leases.ListResources', async (req: { id: string }, call) => {
      const { ns, store, deadline } = open(call);
      return { resources: await retryIdempotent(deadline, () => store.listResources(ns, req.id)) };
    }),
  };
}
