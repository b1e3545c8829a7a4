/** What the cri process reports to introspection. */
import type { PluginInfo } from '@flotilla/api';
import { skippedPlugin } from '@flotilla/host';

const PENDING = 'not implemented yet in Flotilla';

/** The plugins of the cri process: joined to the bus, but none serving yet. */
export function criPlugins(): PluginInfo[] {
  return [
    skippedPlugin('io.containerd.grpc.v1', 'cri', PENDING, ['io.containerd.runtime.v2', 'io.containerd.snapshotter.v1']),
  ];
}
