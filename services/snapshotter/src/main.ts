/** The snapshotter process: the overlayfs and native snapshotters and the differ on the bus. */
import { runService } from '@flotilla/host';
import { snapshotterConfig } from './config.js';
import { serveDiffer } from './diff-service.js';
import { NativeSnapshotter } from './native/native.js';
import { OverlaySnapshotter } from './overlay/overlay.js';
import { overlayUnsupportedReason } from './overlay/support.js';
import { snapshotterPlugins, type SnapshotterPluginState } from './plugins.js';
import { serveSnapshotter, type Backends } from './server.js';
import type { Snapshotter } from './types.js';

await runService({
  name: 'snapshotter',
  start: async ({ config, bus, log, onShutdown }) => {
    const sc = snapshotterConfig(config);
    const backends: Record<string, Snapshotter> = {};
    const state: SnapshotterPluginState = { overlayfs: { root: sc.overlayfs.root }, native: { root: sc.native.root } };

    const skip = await overlayUnsupportedReason(sc.overlayfs.root);
    if (skip) {
      log.warn({ reason: skip }, 'overlayfs snapshotter skipped');
      state.overlayfs = { skip };
    } else {
      const overlay = new OverlaySnapshotter({ ...sc.overlayfs, log: log.child({ snapshotter: 'overlayfs' }) });
      onShutdown(() => overlay.close());
      backends.overlayfs = overlay;
    }
    const native = new NativeSnapshotter({ ...sc.native, log: log.child({ snapshotter: 'native' }) });
    onShutdown(() => native.close());
    backends.native = native;

    serveSnapshotter(bus, backends as Backends);
    serveDiffer(bus, log.child({ component: 'differ' }));
    return snapshotterPlugins(state);
  },
});
