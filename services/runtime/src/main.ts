/** The runtime process. Tasks and shims (runtime-plane issue). */
import { runService } from '@flotilla/host';
import { runtimePlugins } from './plugins.js';

await runService({ name: 'runtime', start: () => runtimePlugins() });
