/** The cri process. Kubernetes CRI (CRI issue). */
import { runService } from '@flotilla/host';
import { criPlugins } from './plugins.js';

await runService({ name: 'cri', start: () => criPlugins() });
