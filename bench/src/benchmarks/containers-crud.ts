/**
 * Containers Create / Get / List / Delete throughput, 16 calls in flight. Containers have an id,
 * runtime io.containerd.runc.v2 and a small OCI spec (an Any of JSON), no image and no snapshot.
 * One round: Create 500 (20 warm-up + 480 timed), Get for 3 s, List (all 500 present) for 3 s,
 * Delete the 500 (20 warm-up + 480 timed).
 */
import { status } from '@grpc/grpc-js';
import { isCode, type ContainerMessage } from '../clients.js';
import { runCount, runFor } from '../load.js';
import type { Benchmark } from '../types.js';
import { IN_FLIGHT, uniqueName } from './util.js';

/** Containers present while List runs. */
export const CONTAINERS = 500;
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
    `Containers with id, runtime ${RUNTIME}, labels and a ${SPEC.length}-byte JSON spec Any (no image, no snapshot), ${IN_FLIGHT} in flight: ` +
    `Create ${CONTAINERS - WARMUP} (--quick 80) after ${WARMUP} warm-up ones; Get of random existing ids for 3 s (--quick 0.5 s); ` +
    `List with ${CONTAINERS} (--quick 100) present for 3 s (--quick 0.5 s); Delete of them all (the warm-up ones first, untimed)`,
  metrics: [
    { key: 'create', unit: 'ops/s', better: 'higher' },
    { key: 'get', unit: 'ops/s', better: 'higher' },
    { key: 'list', unit: 'ops/s', better: 'higher' },
    { key: 'delete', unit: 'ops/s', better: 'higher' },
  ],
  async run(t, { quick, round, runId, measure }) {
    const total = quick ? 100 : CONTAINERS;
    const ms = quick ? 500 : 3000;
    const warm = Array.from({ length: WARMUP }, (_, i) => uniqueName(runId, 'ctr', round, `w${i}`));
    const ids = Array.from({ length: total - WARMUP }, (_, i) => uniqueName(runId, 'ctr', round, i));
    const all = [...warm, ...ids];
    let created = 0;
    try {
      await runCount(warm.length, IN_FLIGHT, (i) => t.clients.createContainer(container(warm[i])).then(() => created++));
      const create = await measure('create', () => runCount(ids.length, IN_FLIGHT, (i) => t.clients.createContainer(container(ids[i])).then(() => created++)));

      const get = async (i: number) => {
        const id = all[(i * 7919) % all.length];
        const r = await t.clients.getContainer(id);
        if (r.container?.id !== id || r.container.runtime?.name !== RUNTIME || !r.container.spec?.value?.equals(SPEC)) {
          throw new Error(`${t.side}: Get ${id} returned ${JSON.stringify(r.container)?.slice(0, 200)}`);
        }
      };
      await runFor(quick ? 100 : 500, IN_FLIGHT, get);
      const getR = await measure('get', () => runFor(ms, IN_FLIGHT, get));

      let seen = -1;
      const list = async () => {
        seen = (await t.clients.listContainers()).containers.length;
      };
      await runFor(quick ? 100 : 500, IN_FLIGHT, list);
      const listR = await measure('list', () => runFor(ms, IN_FLIGHT, list));
      if (seen !== total) throw new Error(`${t.side}: List returned ${seen} containers, expected ${total}`);

      await runCount(warm.length, IN_FLIGHT, (i) => t.clients.deleteContainer(warm[i]));
      const del = await measure('delete', () => runCount(ids.length, IN_FLIGHT, (i) => t.clients.deleteContainer(ids[i])));
      created = 0;
      return { create: create.opsPerSecond, get: getR.opsPerSecond, list: listR.opsPerSecond, delete: del.opsPerSecond };
    } finally {
      // After a failure: delete whatever is left, so later benchmarks and rounds see an empty store.
      if (created > 0) {
        await runCount(all.length, IN_FLIGHT, async (i) => {
          try {
            await t.clients.deleteContainer(all[i]);
          } catch (err) {
            if (!isCode(err, status.NOT_FOUND)) throw err;
          }
        });
      }
    }
  },
};

export default bench;
