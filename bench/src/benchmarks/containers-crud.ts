/**
 * Containers Create / Get / List / Delete throughput, 16 calls in flight. Containers have an id,
 * labels, runtime io.containerd.runc.v2 and a small OCI spec (an Any of JSON): no image and no
 * snapshot. One round on one daemon:
 *
 *   Create 2000 (20 warm-up, then 1980 timed)      → create ops/s
 *   Delete 1500 of them (20 warm-up, then 1480 timed) → delete ops/s   (500 remain)
 *   Get of the 500, random ids, for 3 s after a warm-up → get ops/s
 *   List with the 500 present, for 3 s after a warm-up → list ops/s
 *   Delete the 500 (untimed)
 */
import { status } from '@grpc/grpc-js';
import { isCode, type ContainerMessage } from '../clients.js';
import { runCount, runFor } from '../load.js';
import type { Benchmark } from '../types.js';
import { IN_FLIGHT, uniqueName } from './util.js';

/** Containers created per round (--quick: 200). */
const CREATED = 2000;
/** Containers present while Get and List run (--quick: 100). */
export const PRESENT = 500;
const WARMUP = 20;
export const RUNTIME = 'io.containerd.runc.v2';
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
const SPEC = Buffer.from(
  JSON.stringify({
    ociVersion: '1.0.2-dev',
    process: { args: ['/bin/true'], cwd: '/', env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    root: { path: 'rootfs' },
    linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }] },
  }),
);

const container = (id: string): ContainerMessage => ({
  id,
  labels: { 'bench.flotilla/kind': 'crud' },
  runtime: { name: RUNTIME },
  spec: { type_url: SPEC_TYPE_URL, value: SPEC },
});

const bench: Benchmark = {
  name: 'containers.crud',
  description:
    `Containers with id, a label, runtime ${RUNTIME} and a ${SPEC.length}-byte JSON spec Any (no image, no snapshot), ${IN_FLIGHT} in flight: ` +
    `Create ${CREATED} (--quick 200; ${WARMUP} warm-up), Delete all but ${PRESENT} (--quick 100; ${WARMUP} warm-up), ` +
    `then with ${PRESENT} present: Get of random ids and List, 3 s each (--quick 0.5 s) after a warm-up; the rest deleted untimed`,
  metrics: [
    { key: 'create', unit: 'ops/s', better: 'higher' },
    { key: 'get', unit: 'ops/s', better: 'higher' },
    { key: 'list', unit: 'ops/s', better: 'higher' },
    { key: 'delete', unit: 'ops/s', better: 'higher' },
  ],
  async run(t, { quick, round, runId, measure }) {
    const created = quick ? 200 : CREATED;
    const present = quick ? 100 : PRESENT;
    const ms = quick ? 500 : 3000;
    const warmMs = quick ? 100 : 500;
    const ids = Array.from({ length: created }, (_, i) => uniqueName(runId, 'ctr', round, i));
    // ids[0, present) stay for Get and List; the others are deleted, the last WARMUP of them untimed.
    const kept = ids.slice(0, present);
    const warmDeletes = ids.slice(created - WARMUP);
    const timedDeletes = ids.slice(present, created - WARMUP);
    try {
      const create = (id: string) => t.clients.createContainer(container(id));
      await runCount(WARMUP, IN_FLIGHT, (i) => create(ids[i]));
      const c = await measure('create', () => runCount(created - WARMUP, IN_FLIGHT, (i) => create(ids[WARMUP + i])));

      await runCount(warmDeletes.length, IN_FLIGHT, (i) => t.clients.deleteContainer(warmDeletes[i]));
      const d = await measure('delete', () => runCount(timedDeletes.length, IN_FLIGHT, (i) => t.clients.deleteContainer(timedDeletes[i])));

      const get = async (i: number) => {
        const id = kept[(i * 7919) % kept.length];
        const r = await t.clients.getContainer(id);
        if (r.container?.id !== id || r.container.runtime?.name !== RUNTIME || !r.container.spec?.value?.equals(SPEC)) {
          throw new Error(`${t.side}: Get ${id} returned ${JSON.stringify(r.container)?.slice(0, 200)}`);
        }
      };
      await runFor(warmMs, IN_FLIGHT, get);
      const g = await measure('get', () => runFor(ms, IN_FLIGHT, get));

      let seen = -1;
      const list = async () => {
        seen = (await t.clients.listContainers()).containers.length;
      };
      await runFor(warmMs, IN_FLIGHT, list);
      const l = await measure('list', () => runFor(ms, IN_FLIGHT, list));
      if (seen !== present) throw new Error(`${t.side}: List returned ${seen} containers, expected ${present}`);

      return { create: c.opsPerSecond, get: g.opsPerSecond, list: l.opsPerSecond, delete: d.opsPerSecond };
    } finally {
      // Untimed: whatever is left (all of them after a failure), so later rounds and benchmarks see an empty store.
      await runCount(ids.length, IN_FLIGHT, async (i) => {
        try {
          await t.clients.deleteContainer(ids[i]);
        } catch (err) {
          if (!isCode(err, status.NOT_FOUND)) throw err;
        }
      });
    }
  },
};

export default bench;
