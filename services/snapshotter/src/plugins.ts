/** What the snapshotter process reports to introspection. */
import { arch } from 'node:os';
import type { PluginInfo } from '@flotilla/api';
import { skippedPlugin } from '@flotilla/host';

/** The platform containerd puts on its snapshotter plugins (`platforms.DefaultSpec()`). */
export function defaultPlatform(): string {
  const a = arch();
  const goArch = a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
  return `linux/${goArch}`;
}

/** State of the snapshotter process's backends. */
export interface SnapshotterPluginState {
  /** Root of the overlayfs snapshotter, or why it is skipped. */
  overlayfs: { root: string } | { skip: string };
  /** Root of the native snapshotter. */
  native: { root: string };
}

/**
 * The plugins of the snapshotter process: the overlayfs snapshotter (skipped with its reason when
 * overlay does not work here), the native snapshotter, and the walking differ.
 */
export function snapshotterPlugins(s: SnapshotterPluginState): PluginInfo[] {
  const platforms = [defaultPlatform()];
  const overlay: PluginInfo =
    'skip' in s.overlayfs
      ? skippedPlugin('io.containerd.snapshotter.v1', 'overlayfs', s.overlayfs.skip)
      : { type: 'io.containerd.snapshotter.v1', id: 'overlayfs', requires: [], status: 'ok', platforms, exports: { root: s.overlayfs.root } };
  return [
    overlay,
    { type: 'io.containerd.snapshotter.v1', id: 'native', requires: [], status: 'ok', platforms, exports: { root: s.native.root } },
    { type: 'io.containerd.differ.v1', id: 'walking', requires: ['io.containerd.content.v1'], status: 'ok', platforms: ['linux/amd64'] },
  ];
}
