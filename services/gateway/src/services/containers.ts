/** containerd.services.containers.v1.Containers, backed by the metadata service. */
import { ContainersClient, type AnyValue, type Container } from '@flotilla/metadata';
import type * as grpc from '@grpc/grpc-js';
import { busOptions, requireNamespace, retryIdempotent } from '../call-options.js';
import type { GatewayContext } from '../gateway-context.js';
import { failStream, unary } from '../status.js';
import { writeAll } from '../stream-write.js';
import { toTimestamp } from '../timestamp.js';

type Call = grpc.ServerUnaryCall<any, any> | grpc.ServerWritableStream<any, any>;
type AnyMsg = { type_url?: string; value?: Uint8Array } | null | undefined;
type ContainerMsg = {
  id?: string;
  labels?: Record<string, string>;
  image?: string;
  runtime?: { name?: string; options?: AnyMsg };
  spec?: AnyMsg;
  snapshotter?: string;
  snapshot_key?: string;
  extensions?: Record<string, AnyMsg>;
};

const anyIn = (a: AnyMsg): AnyValue | undefined => (a && a.type_url ? { type_url: a.type_url, value: a.value ?? new Uint8Array(0) } : undefined);
const anyOut = (a: AnyValue | undefined) => (a ? { type_url: a.type_url, value: Buffer.from(a.value.buffer, a.value.byteOffset, a.value.byteLength) } : undefined);

const containerMessage = (c: Container) => ({
  id: c.id,
  labels: c.labels,
  image: c.image,
  runtime: { name: c.runtime.name, options: anyOut(c.runtime.options) },
  spec: anyOut(c.spec),
  snapshotter: c.snapshotter,
  snapshot_key: c.snapshot_key,
  created_at: toTimestamp(c.created_at),
  updated_at: toTimestamp(c.updated_at),
  extensions: Object.fromEntries(Object.entries(c.extensions).map(([k, v]) => [k, anyOut(v)])),
});

const containerInput = (m: ContainerMsg | undefined) => ({
  id: m?.id ?? '',
  labels: m?.labels ?? {},
  image: m?.image ?? '',
  runtime: { name: m?.runtime?.name ?? '', options: anyIn(m?.runtime?.options) },
  spec: anyIn(m?.spec),
  snapshotter: m?.snapshotter ?? '',
  snapshot_key: m?.snapshot_key ?? '',
  extensions: Object.fromEntries(Object.entries(m?.extensions ?? {}).flatMap(([k, v]) => (anyIn(v) ? [[k, anyIn(v) as AnyValue]] : []))),
});

/** The Containers service implementation. */
export function containersService(g: GatewayContext) {
  const open = (call: Call) => {
    const ns = requireNamespace(call);
    const o = busOptions(call, g.config.defaultTimeoutMs);
    return { ns, store: new ContainersClient(g.bus, () => o), deadline: o.deadline };
  };
  return {
    Get: unary(g.log, 'Containers.Get', async (req: { id: string }, call) => {
      const { ns, store, deadline } = open(call);
      return { container: containerMessage(await retryIdempotent(deadline, () => store.get(ns, req.id))) };
    }),
    List: unary(g.log, 'Containers.List', async (req: { filters?: string[] }, call) => {
      const { ns, store, deadline } = open(call);
      return { containers: (await retryIdempotent(deadline, () => store.list(ns, req.filters ?? []))).map(containerMessage) };
    }),
    ListStream: (call: grpc.ServerWritableStream<{ filters?: string[] }, unknown>) => {
      void (async () => {
        const { ns, store, deadline } = open(call);
        for (const c of await retryIdempotent(deadline, () => store.list(ns, call.request.filters ?? []))) await writeAll(call, { container: containerMessage(c) });
        call.end();
      })().catch((err) => failStream(call, err));
    },
    Create: unary(g.log, 'Containers.Create', async (req: { container?: ContainerMsg }, call) => {
      const { ns, store } = open(call);
      return { container: containerMessage(await store.create(ns, containerInput(req.container))) };
    }),
    Update: unary(g.log, 'Containers.Update', async (req: { container?: ContainerMsg; update_mask?: { paths?: string[] } }, call) => {
      const { ns, store } = open(call);
      return { container: containerMessage(await store.update(ns, containerInput(req.container), req.update_mask?.paths ?? [])) };
    }),
    Delete: unary(g.log, 'Containers.Delete', async (req: { id: string }, call) => {
      const { ns, store } = open(call);
      await store.delete(ns, req.id);
      return {};
    }),
  };
}
