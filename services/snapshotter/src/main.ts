/** The snapshotter process. Snapshotters and the differ (storage-plane issue). */
import { runService } from '@flotilla/host';
import { snapshotterPlugins } from './plugins.js';

await runService({ name: 'snapshotter', start: () => snapshotterPlugins() });
