/** containerd.services.introspection.v1.Introspection: plugins of every process, server UUID. */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { parseFilters, adaptObject } from '@flotilla/filters';
import type { PluginInfo, ProcessInfo } from '@flotilla/api';
import type { GatewayContext } from '../gateway-context.js';
import { unary } from '../status.js';

/** The message containerd puts in init_err of a skipped plugin (ctr shows "skip" when it sees it). */
const SKIP_TEXT = 'skip plugin';

/** A containerd Plugin message for one plugin of one process. */
export function pluginMessage(proc: ProcessInfo, p: PluginInfo) {
  const platforms = (p.platforms ?? []).map((s) => {
    const [os, architecture, variant] = s.split('/');
    return { os, architecture, variant: variant ?? '' };
  });
  const exports = { ...(p.exports ?? {}), 'flotilla.process': proc.service, 'flotilla.pid': String(proc.pid) };
  const init_err =
    p.status === 'ok'
      ? undefined
      : { code: p.status === 'skip' ? 9 : 2, message: p.status === 'skip' ? `${p.reason ?? 'not available'}: ${SKIP_TEXT}` : (p.reason ?? 'error') };
  return { type: p.type, id: p.id, requires: p.requires, platforms, exports, capabilities: p.capabilities ?? [], init_err };
}

/** Reads or creates the server UUID kept under root, so it survives restarts. */
export function serverUuid(root: string): string {
  const dir = join(root, 'io.containerd.grpc.v1.introspection');
  const file = join(dir, 'uuid');
  try {
    const v = readFileSync(file, 'utf8').trim();
    if (v) return v;
  } catch {
    /* first start */
  }
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  const id = randomUUID();
  writeFileSync(`${file}.tmp`, id, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
  return id;
}

/** The Introspection service implementation. */
export function introspectionService(g: GatewayContext) {
  const uuid = serverUuid(g.config.root);
  return {
    Plugins: unary(g.log, 'Introspection.Plugins', async (req: { filters?: string[] }) => {
      const filter = parseFilters(req.filters ?? []);
      const procs = await g.bus.introspect();
      procs.sort((a, b) => a.service.localeCompare(b.service) || a.pid - b.pid);
      const plugins = procs.flatMap((proc) => proc.plugins.map((p) => pluginMessage(proc, p)));
      return {
        plugins: plugins.filter((p) =>
          filter.match(adaptObject({ type: p.type, id: p.id, platforms: p.platforms.map((x) => `${x.os}/${x.architecture}`).join(','), capabilities: p.capabilities.join(',') })),
        ),
      };
    }),
    Server: unary(g.log, 'Introspection.Server', async () => ({ uuid, pid: process.pid, pidns: 0 })),
  };
}
