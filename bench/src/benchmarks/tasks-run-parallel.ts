/**
 * `ctr run --rm IMAGE <id> true` throughput with 20 ctr processes at once: each batch starts 20
 * ctr runs together and waits for all of them; runs/s = runs of the round / the summed wall time
 * of its batches. Between batches (untimed) the namespace's shims must have exited, so a batch
 * does not pay for the previous one's teardown. Same image and namespace rules as tasks.run.
 */
import { performance } from 'node:perf_hooks';
import type { Benchmark } from '../types.js';
import { uniqueName } from './util.js';
import { IMAGE, prepareNamespace, removeNamespace, removeTasks, runRm, taskNamespace, waitShimsGone, warn } from './tasks-util.js';

/** ctr processes at once. */
export const PARALLEL = 20;
/** Timed batches per round (--quick: 1). */
const BATCHES = 3;
const ns = (runId: string) => taskNamespace(runId, 'par');

const bench: Benchmark = {
  name: 'tasks.run-parallel',
  description:
    `${PARALLEL} concurrent ctr run --rm ${IMAGE} <unique id> true per batch, ${BATCHES} batches per round (--quick 1) after one warm-up batch; ` +
    'runs/s = runs / summed batch wall time (a batch ends when its last ctr exits); shims must be gone between batches (untimed)',
  metrics: [{ key: 'value', unit: 'runs/s', better: 'higher' }],
  async setup(t, { runId }) {
    await prepareNamespace(t.address, ns(runId));
  },
  async run(t, { quick, round, runId, measure, note }) {
    const batches = quick ? 1 : BATCHES;
    const batch = async (b: number | string) => {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: PARALLEL }, (_, i) => runRm(t.address, ns(runId), uniqueName(runId, `par${b}`, round, i))));
      return performance.now() - t0;
    };
    const settle = async (b: number | string) => {
      const left = await waitShimsGone(t.address, ns(runId));
      if (left.length > 0) throw new Error(`${left.length} shim(s) still running after batch ${b}`);
    };
    let ms = 0;
    try {
      await batch('w');
      await settle('w');
      for (let b = 0; b < batches; b++) {
        ms += await measure(`${PARALLEL} parallel ctr run --rm`, () => batch(b));
        await settle(b);
      }
    } finally {
      for (const p of await removeTasks(t.address, ns(runId))) note(p);
    }
    return { value: (batches * PARALLEL) / (ms / 1000) };
  },
  async teardown(t, { runId }) {
    warn('tasks.run-parallel', t.side, await removeNamespace(t.address, ns(runId)));
  },
};

export default bench;
