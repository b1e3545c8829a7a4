/** The content process. Content-addressed blobs and ingests (storage-plane issue). */
import { runService } from '@flotilla/host';
import { contentPlugins } from './plugins.js';

await runService({ name: 'content', start: () => contentPlugins() });
