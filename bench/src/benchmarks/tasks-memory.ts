/**
 * Memory of a whole daemon, idle and with 50 running containers: containerd = the containerd
 * process and its shims; Flotilla = the `flotilla up` supervisor, nats-server, every service
 * process and all shims. Shims are found by command line (`-address <socket>`), with their
 * descendants; the containers themselves (processes in a cgroup `/<ns>/…`) are not counted.
 *
 * Two sums per state, in MiB: VmRSS (/proc/<pid>/status; shared pages such as the Node or Go
 * runtime text counted once per process) and Pss (/proc/<pid>/smaps_rollup; shared pages divided
 * among the processes that map them — the fairer total, though a page shared with a process
 * outside the daemon, e.g. another node on the machine, lowers it a little).
 *
 * One round: sample idle (median of 3 samples 250 ms apart); start 50 containers
 * (`ctr run -d IMAGE id sleep 1000`, 4 ctr at a time, untimed; --quick 10), wait until 50 shims
 * run, let them settle 2 s, sample again; `ctr task rm -f` + `ctr c rm` all of them (untimed).
 * per-container = (running − idle) / containers, from the PSS sums.
 */
import { runCount, sleep } from '../load.js';
import type { Benchmark } from '../types.js';
import { uniqueName } from './util.js';
import {
  IMAGE,
  breakdown,
  daemonProcesses,
  prepareNamespace,
  removeNamespace,
  removeTasks,
  runDetached,
  shimsByCommandLine,
  taskNamespace,
  totalMiB,
  warn,
  type DaemonProcess,
} from './tasks-util.js';

/** Running containers (--quick: 10). */
export const CONTAINERS = 50;
const QUICK_CONTAINERS = 10;
const ns = (runId: string) => taskNamespace(runId, 'mem');

/** Median (by PSS total) of 3 samples of the daemon's processes, 250 ms apart. */
async function sample(root: number, address: string, namespace: string): Promise<DaemonProcess[]> {
  const samples: DaemonProcess[][] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(250);
    samples.push(daemonProcesses(root, address, [namespace]));
  }
  samples.sort((a, b) => totalMiB(a).pss - totalMiB(b).pss);
  return samples[1];
}

const bench: Benchmark = {
  name: 'tasks.memory',
  description:
    `memory of all the daemon's processes (containerd + shims; flotilla supervisor + nats-server + services + shims; not the containers), MiB: ` +
    `idle, and with ${CONTAINERS} running containers (--quick ${QUICK_CONTAINERS}; ctr run -d ${IMAGE} … sleep 1000); ` +
    'rss = sum of VmRSS, pss = sum of Pss (smaps_rollup); per-container = PSS growth / containers',
  metrics: [
    { key: 'idle-pss', unit: 'MiB', better: 'lower' },
    { key: 'idle-rss', unit: 'MiB', better: 'lower' },
    { key: 'running-pss', unit: 'MiB', better: 'lower' },
    { key: 'running-rss', unit: 'MiB', better: 'lower' },
    { key: 'per-container-pss', unit: 'MiB', better: 'lower' },
  ],
  async setup(t, { runId }) {
    await prepareNamespace(t.address, ns(runId));
  },
  async run(t, { quick, round, runId, measure, note }) {
    const namespace = ns(runId);
    const n = quick ? QUICK_CONTAINERS : CONTAINERS;
    try {
      await sleep(500);
      const idle = await sample(t.pid, t.address, namespace);
      const ids = Array.from({ length: n }, (_, i) => uniqueName(runId, 'mem', round, i));
      await measure(`start ${n} containers`, () => runCount(n, 4, (i) => runDetached(t.address, namespace, ids[i])));
      const until = Date.now() + 30_000;
      let shims = shimsByCommandLine(t.address, namespace).length;
      while (shims < n && Date.now() < until) {
        await sleep(100);
        shims = shimsByCommandLine(t.address, namespace).length;
      }
      if (shims !== n) note(`${shims} shim processes for ${n} running containers`);
      await sleep(2000);
      const busy = await sample(t.pid, t.address, namespace);
      const i = totalMiB(idle);
      const b = totalMiB(busy);
      if (round === 0) {
        note(`idle (rss/pss MiB): ${breakdown(idle)}`);
        note(`${n} running (rss/pss MiB): ${breakdown(busy)}`);
      }
      return { 'idle-pss': i.pss, 'idle-rss': i.rss, 'running-pss': b.pss, 'running-rss': b.rss, 'per-container-pss': (b.pss - i.pss) / n };
    } finally {
      for (const p of await removeTasks(t.address, namespace)) note(p);
    }
  },
  async teardown(t, { runId }) {
    warn('tasks.memory', t.side, await removeNamespace(t.address, ns(runId)));
  },
};

export default bench;
