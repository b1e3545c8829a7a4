/** Namespaces.Get throughput of one existing namespace, 16 calls in flight. */
import { runFor } from '../load.js';
import { simple } from '../types.js';
import { IN_FLIGHT, createAll, deleteAll } from './util.js';

const nameOf = (runId: string) => `b${runId}-get`;

export default simple({
  name: 'namespaces.get',
  description: `Namespaces.Get of one existing namespace, ${IN_FLIGHT} in flight, for 3 s (--quick 0.5 s) after a warm-up`,
  unit: 'ops/s',
  better: 'higher',
  setup: (t, { runId }) => createAll(t, [nameOf(runId)]),
  teardown: (t, { runId }) => deleteAll(t, [nameOf(runId)]),
  async run(t, { quick, runId }) {
    const name = nameOf(runId);
    const get = async () => {
      const r = await t.clients.getNamespace(name);
      if (r.namespace?.name !== name) throw new Error(`${t.side}: Get returned ${JSON.stringify(r.namespace)}`);
    };
    await runFor(quick ? 100 : 500, IN_FLIGHT, get);
    return (await runFor(quick ? 500 : 3000, IN_FLIGHT, get)).opsPerSecond;
  },
});
