/** containerd.services.images.v1.Images, backed by the metadata service. */
import { ImagesClient, type Image } from '@flotilla/metadata';
import type * as grpc from '@grpc/grpc-js';
import { busOptions, requireNamespace, retryIdempotent } from '../call-options.js';
import type { GatewayContext } from '../gateway-context.js';
import { unary } from '../status.js';
import { toTimestamp } from '../timestamp.js';

type Call = grpc.ServerUnaryCall<any, any>;
type ImageMsg = { name?: string; labels?: Record<string, string>; target?: { media_type?: string; digest?: string; size?: string | number; annotations?: Record<string, string> } };

const imageMessage = (i: Image) => ({
  name: i.name,
  labels: i.labels,
  target: { media_type: i.target.media_type, digest: i.target.digest, size: i.target.size, annotations: i.target.annotations ?? {} },
  created_at: toTimestamp(i.created_at),
  updated_at: toTimestamp(i.updated_at),
});

const imageInput = (m: ImageMsg | undefined) => ({
  name: m?.name ?? '',
  labels: m?.labels ?? {},
  target: {
    media_type: m?.target?.media_type ?? '',
    digest: m?.target?.digest ?? '',
    size: Number(m?.target?.size ?? 0),
    annotations: m?.target?.annotations ?? {},
  },
});

/** The Images service implementation. */
export function imagesService(g: GatewayContext) {
  const open = (call: Call) => {
    const ns = requireNamespace(call);
    const o = busOptions(call, g.config.defaultTimeoutMs);
    return { ns, store: new ImagesClient(g.bus, () => o), deadline: o.deadline };
  };
  return {
    Get: unary(g.log, 'Images.Get', async (req: { name: string }, call) => {
      const { ns, store, deadline } = open(call);
      return { image: imageMessage(await retryIdempotent(deadline, () => store.get(ns, req.name))) };
    }),
    List: unary(g.log, 'Images.List', async (req: { filters?: string[] }, call) => {
      const { ns, store, deadline } = open(call);
      return { images: (await retryIdempotent(deadline, () => store.list(ns, req.filters ?? []))).map(imageMessage) };
    }),
    Create: unary(g.log, 'Images.Create', async (req: { image?: ImageMsg }, call) => {
      const { ns, store } = open(call);
      return { image: imageMessage(await store.create(ns, imageInput(req.image))) };
    }),
    Update: unary(g.log, 'Images.Update', async (req: { image?: ImageMsg; update_mask?: { paths?: string[] } }, call) => {
      const { ns, store } = open(call);
      return { image: imageMessage(await store.update(ns, imageInput(req.image), req.update_mask?.paths ?? [])) };
    }),
    Delete: unary(g.log, 'Images.Delete', async (req: { name: string; sync?: boolean }, call) => {
      const { ns, store } = open(call);
      await store.delete(ns, req.name, !!req.sync);
      return {};
    }),
  };
}
