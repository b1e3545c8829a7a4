/** Namespaces.Create throughput: N unique names, 16 calls in flight. */
import { runCount } from '../load.js';
import { simple } from '../types.js';
import { IN_FLIGHT, deleteAll, uniqueName } from './util.js';

export default simple({
  name: 'namespaces.create',
  description: `Namespaces.Create of N unique names (2000; --quick 200), ${IN_FLIGHT} in flight, after a 50-call warm-up`,
  unit: 'ops/s',
  better: 'higher',
  async run(t, { quick, round, runId }) {
    const n = quick ? 200 : 2000;
    const warm = Array.from({ length: quick ? 20 : 50 }, (_, i) => uniqueName(runId, 'create', round, `w${i}`));
    const names = Array.from({ length: n }, (_, i) => uniqueName(runId, 'create', round, i));
    try {
      await runCount(warm.length, IN_FLIGHT, (i) => t.clients.createNamespace(warm[i]));
      const r = await runCount(n, IN_FLIGHT, (i) => t.clients.createNamespace(names[i]));
      return r.opsPerSecond;
    } finally {
      // Later benchmarks (List) must not see these.
      await deleteAll(t, [...warm, ...names]);
    }
  },
});
