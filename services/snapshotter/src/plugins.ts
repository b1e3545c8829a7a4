/** What the snapshotter process reports to introspection. */
import type { PluginInfo } from '@flotilla/api';
import { skippedPlugin } from '@flotilla/host';

const PENDING = 'not implemented yet in Flotilla';

/** The plugins of the snapshotter process: joined to the bus, but none serving yet. */
export function snapshotterPlugins(): PluginInfo[] {
  return [
    skippedPlugin('io.containerd.snapshotter.v1', 'overlayfs', PENDING),
    skippedPlugin('io.containerd.snapshotter.v1', 'native', PENDING),
    skippedPlugin('io.containerd.differ.v1', 'walking', PENDING, ['io.containerd.content.v1']),
  ];
}
