/** What the runtime process reports to introspection. */
import { arch } from 'node:os';
import type { PluginInfo } from '@flotilla/api';

/** The platform containerd puts on its runtime plugin. */
function platform(): string {
  const a = arch();
  return `linux/${a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a}`;
}

/** State of the runtime process for its plugin records. */
export interface RuntimePluginState {
  /** `<state>/io.containerd.runtime.v2.task`. */
  stateDir: string;
  /** `<root>/io.containerd.runtime.v2.task`. */
  rootDir: string;
}

/** The plugins of the runtime process: the v2 task runtime, the tasks service and its gRPC face. */
export function runtimePlugins(s: RuntimePluginState): PluginInfo[] {
  return [
    {
      type: 'io.containerd.runtime.v2',
      id: 'task',
      requires: ['io.containerd.event.v1', 'io.containerd.metadata.v1'],
      status: 'ok',
      platforms: [platform()],
      exports: { root: s.rootDir, state: s.stateDir },
    },
    { type: 'io.containerd.service.v1', id: 'tasks-service', requires: ['io.containerd.event.v1', 'io.containerd.metadata.v1', 'io.containerd.runtime.v2'], status: 'ok' },
    { type: 'io.containerd.grpc.v1', id: 'tasks', requires: ['io.containerd.service.v1'], status: 'ok' },
  ];
}
