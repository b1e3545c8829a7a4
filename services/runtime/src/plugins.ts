/** What the runtime process reports to introspection. */
import type { PluginInfo } from '@flotilla/api';
import { skippedPlugin } from '@flotilla/host';

const PENDING = 'not implemented yet in Flotilla';

/** The plugins of the runtime process: joined to the bus, but none serving yet. */
export function runtimePlugins(): PluginInfo[] {
  return [
    skippedPlugin('io.containerd.runtime.v2', 'task', PENDING, ['io.containerd.metadata.v1']),
  ];
}
