/** What the content process reports to introspection. */
import type { PluginInfo } from '@flotilla/api';

/** The plugins of the content process once its store in `dir` serves. */
export function contentPlugins(dir: string): PluginInfo[] {
  return [{ type: 'io.containerd.content.v1', id: 'content', requires: [], status: 'ok', exports: { root: dir } }];
}
