/** What the content process reports to introspection. */
import type { PluginInfo } from '@flotilla/api';
import { skippedPlugin } from '@flotilla/host';

const PENDING = 'not implemented yet in Flotilla';

/** The plugins of the content process: joined to the bus, but none serving yet. */
export function contentPlugins(): PluginInfo[] {
  return [
    skippedPlugin('io.containerd.content.v1', 'content', PENDING),
  ];
}
