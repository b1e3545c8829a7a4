/**
 * Bus adapter of the runtime service: decode, validate shapes, call the TaskService, encode.
 * Subjects `flotilla.runtime.v1.Tasks.<Method>`; shapes in types.ts.
 */
import { invalidArgument } from '@flotilla/api';
import type { Bus, CallContext, UnaryHandler } from '@flotilla/bus';
import { RUNTIME_SERVICE, type AnyValue, type RuntimeContract, type TaskService } from './types.js';

type Handlers = { [M in keyof RuntimeContract]: UnaryHandler<RuntimeContract[M]['req'], RuntimeContract[M]['res']> };

function obj(req: unknown): Record<string, unknown> {
  if (req === undefined || req === null) return {};
  if (typeof req !== 'object' || Array.isArray(req) || req instanceof Uint8Array) throw invalidArgument('request must be a map');
  return req as Record<string, unknown>;
}

function str(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string`);
  return v;
}

function num(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw invalidArgument(`${field} must be an unsigned 32-bit integer`);
  return v;
}

function bool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalidArgument(`${field} must be true or false`);
  return v;
}

function strings(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw invalidArgument(`${field} must be a list of strings`);
  return v as string[];
}

function stringMap(v: unknown, field: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || Object.values(v).some((s) => typeof s !== 'string')) {
    throw invalidArgument(`${field} must be a map of strings`);
  }
  return v as Record<string, string>;
}

function any(v: unknown, field: string): AnyValue | undefined {
  if (v === undefined || v === null) return undefined;
  const a = obj(v);
  const type_url = str(a.type_url, `${field}.type_url`) ?? '';
  const value = a.value ?? new Uint8Array(0);
  if (!(value instanceof Uint8Array)) throw invalidArgument(`${field}.value must be bytes`);
  return type_url ? { type_url, value } : undefined;
}

function mounts(v: unknown): RuntimeContract['Tasks.Create']['req']['rootfs'] {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalidArgument('rootfs must be a list of mounts');
  return v.map((m, i) => {
    const o = obj(m);
    return {
      type: str(o.type, `rootfs[${i}].type`) ?? '',
      source: str(o.source, `rootfs[${i}].source`) ?? '',
      target: str(o.target, `rootfs[${i}].target`),
      options: strings(o.options, `rootfs[${i}].options`) ?? [],
    };
  });
}

const ref = (o: Record<string, unknown>) => ({ container_id: str(o.container_id, 'container_id') ?? '', exec_id: str(o.exec_id, 'exec_id') });
const cid = (o: Record<string, unknown>) => ({ container_id: str(o.container_id, 'container_id') ?? '' });

/** The unary handlers over `svc`. */
export function runtimeHandlers(svc: TaskService): Handlers {
  const ctx = (c: CallContext) => ({ namespace: c.namespace ?? '', signal: c.signal });
  return {
    'Tasks.Create': (req, c) => {
      const o = obj(req);
      const cp = o.checkpoint === undefined || o.checkpoint === null ? undefined : obj(o.checkpoint);
      return svc.create(
        {
          ...cid(o),
          rootfs: mounts(o.rootfs),
          stdin: str(o.stdin, 'stdin'),
          stdout: str(o.stdout, 'stdout'),
          stderr: str(o.stderr, 'stderr'),
          terminal: bool(o.terminal, 'terminal'),
          checkpoint: cp ? { media_type: str(cp.media_type, 'checkpoint.media_type'), digest: str(cp.digest, 'checkpoint.digest') } : undefined,
          options: any(o.options, 'options'),
          runtime_path: str(o.runtime_path, 'runtime_path'),
        },
        ctx(c),
      );
    },
    'Tasks.Start': (req, c) => svc.start(ref(obj(req)), ctx(c)),
    'Tasks.Delete': (req, c) => svc.delete(cid(obj(req)), ctx(c)),
    'Tasks.DeleteProcess': (req, c) => {
      const o = obj(req);
      return svc.deleteProcess({ ...cid(o), exec_id: str(o.exec_id, 'exec_id') ?? '' }, ctx(c));
    },
    'Tasks.Get': (req, c) => svc.get(ref(obj(req)), ctx(c)),
    'Tasks.List': (req, c) => svc.list({ filter: str(obj(req).filter, 'filter') }, ctx(c)),
    'Tasks.Kill': (req, c) => {
      const o = obj(req);
      return svc.kill({ ...ref(o), signal: num(o.signal, 'signal') ?? 0, all: bool(o.all, 'all') }, ctx(c));
    },
    'Tasks.Exec': (req, c) => {
      const o = obj(req);
      return svc.exec(
        {
          ...cid(o),
          exec_id: str(o.exec_id, 'exec_id') ?? '',
          stdin: str(o.stdin, 'stdin'),
          stdout: str(o.stdout, 'stdout'),
          stderr: str(o.stderr, 'stderr'),
          terminal: bool(o.terminal, 'terminal'),
          spec: any(o.spec, 'spec'),
        },
        ctx(c),
      );
    },
    'Tasks.ResizePty': (req, c) => {
      const o = obj(req);
      return svc.resizePty({ ...ref(o), width: num(o.width, 'width') ?? 0, height: num(o.height, 'height') ?? 0 }, ctx(c));
    },
    'Tasks.CloseIO': (req, c) => {
      const o = obj(req);
      return svc.closeIO({ ...ref(o), stdin: bool(o.stdin, 'stdin') }, ctx(c));
    },
    'Tasks.Pause': (req, c) => svc.pause(cid(obj(req)), ctx(c)),
    'Tasks.Resume': (req, c) => svc.resume(cid(obj(req)), ctx(c)),
    'Tasks.ListPids': (req, c) => svc.listPids(cid(obj(req)), ctx(c)),
    'Tasks.Checkpoint': (req, c) => svc.checkpoint(cid(obj(req)), ctx(c)),
    'Tasks.Update': (req, c) => {
      const o = obj(req);
      return svc.update({ ...cid(o), resources: any(o.resources, 'resources'), annotations: stringMap(o.annotations, 'annotations') }, ctx(c));
    },
    'Tasks.Metrics': (req, c) => svc.metrics({ filters: strings(obj(req).filters, 'filters') }, ctx(c)),
    'Tasks.Wait': (req, c) => svc.wait(ref(obj(req)), ctx(c)),
  };
}

/** Serves `svc` as the runtime service on `bus`. */
export function serveRuntime(bus: Bus, svc: TaskService): void {
  bus.serve(RUNTIME_SERVICE, { unary: runtimeHandlers(svc) as unknown as Record<string, UnaryHandler> });
}
