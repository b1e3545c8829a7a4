/** Bus handlers of `Containers.*`. */
import { invalidArgument } from '@flotilla/api';
import type { Bus } from '@flotilla/bus';
import type { AnyValue, Container, ContainerStore } from '../types.js';
import { callerNamespace, optionalLabels, optionalStrings, publisher, requireString, type HandlersOf } from './common.js';

type ContainerInput = Omit<Container, 'created_at' | 'updated_at'>;

function anyArg(v: unknown, field: string): AnyValue | undefined {
  if (v === undefined || v === null) return undefined;
  const a = v as AnyValue;
  if (typeof a !== 'object' || typeof a.type_url !== 'string') throw invalidArgument(`${field} must be an Any`);
  return { type_url: a.type_url, value: a.value instanceof Uint8Array ? a.value : new Uint8Array(0) };
}

function containerArg(v: unknown): ContainerInput {
  if (!v || typeof v !== 'object') throw invalidArgument('container must be set');
  const c = v as ContainerInput;
  const extensions: Record<string, AnyValue> = {};
  for (const [k, x] of Object.entries(c.extensions ?? {})) extensions[k] = anyArg(x, `extensions.${k}`) as AnyValue;
  return {
    id: typeof c.id === 'string' ? c.id : '',
    labels: optionalLabels(c.labels),
    image: typeof c.image === 'string' ? c.image : '',
    runtime: { name: c.runtime?.name ?? '', options: anyArg(c.runtime?.options, 'runtime.options') },
    spec: anyArg(c.spec, 'spec'),
    snapshotter: typeof c.snapshotter === 'string' ? c.snapshotter : '',
    snapshot_key: typeof c.snapshot_key === 'string' ? c.snapshot_key : '',
    extensions,
  };
}

/** `Containers.*` over `store`, publishing `/containers/*`; `collect(false)` runs after a delete. */
export function containerHandlers(
  bus: Bus,
  store: ContainerStore,
  collect: (sync: boolean) => Promise<void> = async () => undefined,
): HandlersOf<'Containers.Get' | 'Containers.List' | 'Containers.Create' | 'Containers.Update' | 'Containers.Delete'> {
  const event = publisher(bus);
  return {
    'Containers.Get': async (req, ctx) => ({ container: await store.get(callerNamespace(ctx), requireString(req?.id, 'id')) }),
    'Containers.List': async (req, ctx) => ({ containers: await store.list(callerNamespace(ctx), optionalStrings(req?.filters, 'filters')) }),
    'Containers.Create': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      const c = await store.create(ns, containerArg(req?.container));
      event('/containers/create', ns, 'ContainerCreate', { id: c.id, image: c.image, runtime: { name: c.runtime.name, options: c.runtime.options } });
      return { container: c };
    },
    'Containers.Update': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      const c = await store.update(ns, containerArg(req?.container), optionalStrings(req.update_mask, 'update_mask'));
      event('/containers/update', ns, 'ContainerUpdate', { id: c.id, image: c.image, labels: c.labels, snapshot_key: c.snapshot_key });
      return { container: c };
    },
    'Containers.Delete': async (req, ctx) => {
      const ns = callerNamespace(ctx);
      const id = requireString(req?.id, 'id');
      await store.delete(ns, id);
      event('/containers/delete', ns, 'ContainerDelete', { id });
      await collect(false);
      return {};
    },
  };
}
