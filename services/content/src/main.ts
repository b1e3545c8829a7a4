/** The content process: content-addressed blobs and resumable ingests on disk, on the bus. */
import { runService } from '@flotilla/host';
import { contentConfig } from './config.js';
import { LocalContentStore } from './local/store.js';
import { contentPlugins } from './plugins.js';
import { serveContent } from './server.js';

await runService({
  name: 'content',
  start: async ({ config, bus, log, onShutdown }) => {
    const { dir } = contentConfig(config);
    // Opening cleans what a killed predecessor left (stale locks); ingests stay resumable.
    const store = await LocalContentStore.open(dir, { log: log.child({ component: 'store' }) });
    onShutdown(() => store.close());
    serveContent(bus, store);
    return contentPlugins(dir);
  },
});
