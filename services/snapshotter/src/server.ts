/**
 * Bus adapter of the snapshotter service: decode, validate, pick the backend named by
 * `snapshotter`, call it, encode. Subjects `flotilla.snapshotter.v1.<Method>`; shapes in types.ts.
 */
import { invalidArgument } from '@flotilla/api';
import type { Bus, Duplex, StreamHandler, UnaryHandler } from '@flotilla/bus';
import {
  LIST_BATCH,
  LIST_METHOD,
  SNAPSHOTTER_SERVICE,
  type Info,
  type InfoUpdate,
  type ListBatch,
  type ListRequest,
  type Snapshotter,
  type SnapshotterContract,
} from './types.js';

type Handlers = { [M in keyof SnapshotterContract]: UnaryHandler<SnapshotterContract[M]['req'], SnapshotterContract[M]['res']> };

/** The backends served, by snapshotter name. */
export type Backends = Readonly<Record<string, Snapshotter | undefined>>;

function requireString(v: unknown, field: string): string {
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string`);
  return v;
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  return requireString(v, field);
}

function optionalLabels(v: unknown, field = 'labels'): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw invalidArgument(`${field} must be a map of strings`);
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw invalidArgument(`${field}[${JSON.stringify(k)}] must be a string`);
  }
  return v as Record<string, string>;
}

function optionalStrings(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw invalidArgument(`${field} must be a list of strings`);
  return v as string[];
}

function requireInfo(v: unknown): InfoUpdate {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalidArgument('info is required');
  const info = v as { name?: unknown; labels?: unknown };
  return { name: requireString(info.name, 'info.name'), labels: optionalLabels(info.labels, 'info.labels') };
}

/** The backend named by `name`; InvalidArgument like containerd's snapshots service otherwise. */
function backend(backends: Backends, name: unknown): Snapshotter {
  if (name === undefined || name === null || name === '') throw invalidArgument('snapshotter argument missing');
  if (typeof name !== 'string') throw invalidArgument('snapshotter must be a string');
  const sn = Object.hasOwn(backends, name) ? backends[name] : undefined;
  if (!sn) throw invalidArgument(`snapshotter not loaded: ${name}`);
  return sn;
}

/** The unary handlers over `backends`. */
export function snapshotterHandlers(backends: Backends): Handlers {
  const sn = (req: unknown) => backend(backends, (req as { snapshotter?: unknown } | undefined)?.snapshotter);
  return {
    Prepare: async (req) => {
      const s = sn(req);
      return { mounts: await s.prepare(requireString(req.key, 'key'), optionalString(req.parent, 'parent'), optionalLabels(req.labels)) };
    },
    View: async (req) => {
      const s = sn(req);
      return { mounts: await s.view(requireString(req.key, 'key'), optionalString(req.parent, 'parent'), optionalLabels(req.labels)) };
    },
    Mounts: async (req) => ({ mounts: await sn(req).mounts(requireString(req.key, 'key')) }),
    Commit: async (req) => {
      const s = sn(req);
      await s.commit(requireString(req.name, 'name'), requireString(req.key, 'key'), optionalLabels(req.labels));
      return {};
    },
    Remove: async (req) => {
      await sn(req).remove(requireString(req.key, 'key'));
      return {};
    },
    Stat: async (req) => ({ info: await sn(req).stat(requireString(req.key, 'key')) }),
    Update: async (req) => {
      const s = sn(req);
      return { info: await s.update(requireInfo(req.info), optionalStrings(req.update_mask, 'update_mask')) };
    },
    Usage: async (req) => {
      const u = await sn(req).usage(requireString(req.key, 'key'));
      return { size: u.size, inodes: u.inodes };
    },
    Cleanup: async (req) => {
      await sn(req).cleanup();
      return {};
    },
  };
}

/** The `List` stream handler: sends the matching infos in batches of {@link LIST_BATCH}. */
export function listHandler(backends: Backends): StreamHandler<ListRequest, ListBatch> {
  return async (req, stream: Duplex<ListBatch, unknown>) => {
    const s = backend(backends, req?.snapshotter);
    const filters = optionalStrings(req?.filters, 'filters');
    let batch: Info[] = [];
    await s.walk(async (info) => {
      batch.push(info);
      if (batch.length >= LIST_BATCH) {
        const full = batch;
        batch = [];
        await stream.send({ info: full });
      }
    }, filters);
    if (batch.length > 0) await stream.send({ info: batch });
  };
}

/** Serves `backends` as the snapshotter service on `bus`. */
export function serveSnapshotter(bus: Bus, backends: Backends): void {
  bus.serve(SNAPSHOTTER_SERVICE, {
    unary: snapshotterHandlers(backends) as Record<string, UnaryHandler>,
    streams: { [LIST_METHOD]: listHandler(backends) as StreamHandler },
  });
}
