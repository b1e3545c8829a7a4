/** Namespaces.List throughput with 100 namespaces present, 16 calls in flight. */
import { runFor } from '../load.js';
import { simple } from '../types.js';
import { IN_FLIGHT, createAll, deleteAll } from './util.js';

/** Namespaces present during the benchmark (created by setup, deleted by teardown). */
export const LIST_SIZE = 100;
const names = (runId: string) => Array.from({ length: LIST_SIZE }, (_, i) => `b${runId}-list-${String(i).padStart(3, '0')}`);

export default simple({
  name: 'namespaces.list',
  description: `Namespaces.List with ${LIST_SIZE} namespaces present, ${IN_FLIGHT} in flight, for 3 s (--quick 0.5 s) after a warm-up`,
  unit: 'ops/s',
  better: 'higher',
  setup: (t, { runId }) => createAll(t, names(runId)),
  teardown: (t, { runId }) => deleteAll(t, names(runId)),
  async run(t, { quick }) {
    let seen = -1;
    const list = async () => {
      seen = (await t.clients.listNamespaces()).namespaces.length;
    };
    await runFor(quick ? 100 : 500, IN_FLIGHT, list);
    const r = await runFor(quick ? 500 : 3000, IN_FLIGHT, list);
    if (seen < LIST_SIZE) throw new Error(`${t.side}: List returned ${seen} namespaces, expected at least ${LIST_SIZE}`);
    return r.opsPerSecond;
  },
});
