/**
 * `ctr run --rm IMAGE <id> true` latency, one at a time: the real ctr end to end (container
 * create with an overlayfs snapshot, task create — which starts a shim — start, wait for exit,
 * task delete, container delete with its snapshot). The image is testkit's busybox, imported into
 * the benchmark's own namespace in setup; every id is unique. Reports the p50 and p90 of the
 * wall time of each ctr process (spawn to exit), after 2 untimed warm-up runs per round.
 */
import { percentile } from '../load.js';
import type { Benchmark } from '../types.js';
import { uniqueName } from './util.js';
import { IMAGE, prepareNamespace, removeNamespace, removeTasks, runRm, taskNamespace, warn } from './tasks-util.js';

/** Timed runs per round (--quick: 5). */
const RUNS = 30;
const QUICK_RUNS = 5;
const WARMUP = 2;
const ns = (runId: string) => taskNamespace(runId, 'run');

const bench: Benchmark = {
  name: 'tasks.run',
  description:
    `ctr run --rm ${IMAGE} <unique id> true, sequential: ${RUNS} timed runs per round (--quick ${QUICK_RUNS}) after ${WARMUP} warm-up runs; ` +
    'p50/p90 of the wall time of each ctr process (container + snapshot, shim start, task create/start/wait/delete, container delete)',
  metrics: [
    { key: 'p50', unit: 'ms', better: 'lower' },
    { key: 'p90', unit: 'ms', better: 'lower' },
  ],
  async setup(t, { runId }) {
    await prepareNamespace(t.address, ns(runId));
  },
  async run(t, { quick, round, runId, measure, note }) {
    const n = quick ? QUICK_RUNS : RUNS;
    const times: number[] = [];
    try {
      for (let i = 0; i < WARMUP; i++) await runRm(t.address, ns(runId), uniqueName(runId, 'runw', round, i));
      await measure('ctr run --rm (sequential)', async () => {
        for (let i = 0; i < n; i++) times.push(await runRm(t.address, ns(runId), uniqueName(runId, 'run', round, i)));
      });
    } finally {
      for (const p of await removeTasks(t.address, ns(runId))) note(p);
    }
    return { p50: percentile(times, 50), p90: percentile(times, 90) };
  },
  async teardown(t, { runId }) {
    warn('tasks.run', t.side, await removeNamespace(t.address, ns(runId)));
  },
};

export default bench;
