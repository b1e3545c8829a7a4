/**
 * The shim, for each daemon's default runtime io.containerd.runc.v2 (containerd: Debian's
 * `containerd-shim-runc-v2`; Flotilla: the binary its runtime service starts, by default
 * `bin/containerd-shim-flotilla-v2`):
 *
 * - create: ms of one Tasks.Create gRPC call (the request ctr sends; the daemon gets a shim — by
 *   `<shim> start`, or however it does it — and the shim runs `runc create`) for a container made
 *   with `ctr c create` and its snapshot's mounts as rootfs, no stdio; untimed around it: the task
 *   and container deleted, the shim gone. Median of 10 per round (--quick 3).
 * - start: `<shim> -namespace N -address A -publish-binary P -id X start` run as the runtimes run
 *   it (in a bundle folder holding `config.json` and the `log` FIFO, which we hold open, with
 *   containerd's environment, stdin closed): ms from spawn until it exits having printed the
 *   address: what a task create waits for when it starts the shim this way (as containerd always
 *   does; Flotilla may instead hand the task to a pre-started shim, which `create` shows).
 * - ready: ms from the same spawn until the shim answers `Connect` over ttrpc on that address
 *   (the long-lived shim is up and serving). The shim is then shut down (`Shutdown`) and the
 *   bundle removed. Median of 10 starts per round (--quick 3).
 * - rss / pss: memory of the shim of one running container (`ctr run -d … sleep 1000`; the
 *   shim's pid asked over ttrpc, plus any descendants outside the container's cgroup), MiB,
 *   median of 3 samples after the container ran for 1 s. VmRSS counts shared pages (the Node or
 *   Go runtime text) in full; Pss divides them among the processes sharing them.
 *
 * The binary measured is the one the daemon itself used for that container
 * (`<bundle>/shim-binary-path` when the daemon writes it).
 */
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { TASKS_PROTO, loadGrpcPackage } from '@flotilla/protos';
import { REPO, ctrOk } from '@flotilla/testkit';
import { descendants } from '../cpu.js';
import { median, sleep } from '../load.js';
import type { Benchmark, Target } from '../types.js';
import { uniqueName } from './util.js';
import {
  IMAGE,
  TASK_DIR,
  inNamespaceCgroup,
  memoryOf,
  mkfifo,
  prepareNamespace,
  removeNamespace,
  removeTasks,
  runDetached,
  runProgram,
  running,
  shimApi,
  shimPidOf,
  stateDirOf,
  taskNamespace,
  waitShimsGone,
  warn,
} from './tasks-util.js';

/** Direct shim starts per round (--quick: 3). */
const STARTS = 10;
const QUICK_STARTS = 3;
const ns = (runId: string) => taskNamespace(runId, 'shim');

/** The shim binary each daemon runs for io.containerd.runc.v2 when its bundle does not say. */
function defaultShim(t: Target): string {
  return t.side === 'containerd' ? '/usr/bin/containerd-shim-runc-v2' : join(REPO, 'bin', 'containerd-shim-flotilla-v2');
}

/** What each daemon passes as -publish-binary. */
function publishBinary(t: Target): string {
  return t.side === 'containerd' ? '/usr/bin/containerd' : join(REPO, 'bin', 'flotilla');
}

/** Holds a FIFO open read-write, non-blocking (as containerd holds a shim's log), draining it. */
function holdFifo(path: string): { text: () => string; close: () => void } {
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const sock = new Socket({ fd, readable: true, writable: false });
  let text = '';
  sock.on('data', (d) => (text = (text + d).slice(-4096)));
  sock.on('error', () => undefined);
  return {
    text: () => text,
    close: () => {
      sock.destroy();
      try {
        closeSync(fd);
      } catch {
        /* closed with the socket */
      }
    },
  };
}

/** `unix:///run/containerd/s/…` or a bare path or `{"address": …}` → the socket path. */
function socketPathOf(output: string): string {
  let out = output.trim();
  if (out.startsWith('{')) out = String((JSON.parse(out) as { address?: unknown }).address ?? '');
  return out.replace(/^unix:\/\//, '');
}

/** One direct start of `binary` in a fresh bundle under `dir`; returns start and ready ms. */
async function startOnce(t: Target, binary: string, dir: string, namespace: string, id: string): Promise<{ start: number; ready: number }> {
  const bundle = join(dir, id);
  mkdirSync(bundle, { mode: 0o700 });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2-dev', process: { args: ['true'], cwd: '/' }, root: { path: 'rootfs' } }));
  mkfifo(join(bundle, 'log'));
  const log = holdFifo(join(bundle, 'log'));
  const env = {
    ...process.env,
    GOMAXPROCS: '2',
    TTRPC_ADDRESS: `${t.address}.ttrpc`,
    GRPC_ADDRESS: t.address,
    NAMESPACE: namespace,
    MAX_SHIM_VERSION: '2',
  };
  let socket: string | undefined;
  let shimPid: number | undefined;
  try {
    const t0 = performance.now();
    const r = await runProgram(binary, ['-namespace', namespace, '-address', t.address, '-publish-binary', publishBinary(t), '-id', id, 'start'], { cwd: bundle, env });
    const start = performance.now() - t0;
    if (r.code !== 0) throw new Error(`${binary} start exited ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim()} ${log.text().trim()}`);
    socket = socketPathOf(r.stdout);
    const api = await shimApi(`unix://${socket}`, namespace);
    try {
      shimPid = (await api.connect(id)).shim_pid;
      const ready = performance.now() - t0;
      await api.shutdown(id).catch(() => undefined); // the shim may exit before it answers
      return { start, ready };
    } finally {
      api.close();
    }
  } finally {
    const until = Date.now() + 5_000;
    while (shimPid && running(shimPid) && Date.now() < until) await sleep(20);
    if (shimPid && running(shimPid)) process.kill(shimPid, 'SIGKILL');
    if (socket && existsSync(socket)) unlinkSync(socket);
    log.close();
    rmSync(bundle, { recursive: true, force: true });
  }
}

let tasksCtor: any;
/** A containerd.services.tasks.v1.Tasks client on a connection of its own (closed by the caller). */
async function tasksClient(t: Target): Promise<grpc.Client> {
  tasksCtor ??= (grpc.loadPackageDefinition(loadGrpcPackage([TASKS_PROTO])) as any).containerd.services.tasks.v1.Tasks;
  const client: grpc.Client = new tasksCtor(`unix:${t.address}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 30_000, (err) => (err ? reject(err) : resolve())));
  return client;
}

/** One timed Tasks.Create of a fresh container `id` (created, deleted and waited for untimed); ms. */
async function createOnce(t: Target, tasks: grpc.Client, namespace: string, id: string): Promise<number> {
  await ctrOk(t.address, ['containers', 'create', IMAGE, id, 'true'], { namespace });
  try {
    const { mounts } = await t.clients.unary<{ mounts: object[] }>(t.clients.snapshots, 'Mounts', { snapshotter: 'overlayfs', key: id }, namespace);
    const t0 = performance.now();
    await t.clients.unary(tasks, 'Create', { container_id: id, rootfs: mounts, stdin: '', stdout: '', stderr: '', terminal: false }, namespace);
    const ms = performance.now() - t0;
    await t.clients.unary(tasks, 'Delete', { container_id: id }, namespace);
    return ms;
  } finally {
    await ctrOk(t.address, ['containers', 'rm', id], { namespace });
    const left = await waitShimsGone(t.address, namespace);
    if (left.length > 0) throw new Error(`shim of ${id} still running after its task was deleted (pids ${left.join(' ')})`);
  }
}

/** Memory (KiB) of the shim serving task `id` and its non-container descendants. */
function shimMemory(shimPid: number, namespace: string): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of [shimPid, ...descendants(shimPid)]) {
    if (pid !== shimPid && inNamespaceCgroup(pid, namespace)) continue;
    const m = memoryOf(pid);
    if (!m) continue;
    rss += m.rss;
    pss += m.pss;
  }
  return { rss, pss };
}

const bench: Benchmark = {
  name: 'tasks.shim',
  description:
    `the io.containerd.runc.v2 shim of each daemon (containerd-shim-runc-v2 vs Flotilla's): create = ms of one Tasks.Create (shim + runc create) of a container made by ctr c create; start = ms of \`<shim> … start\` in a bundle until it exits with the address, ` +
    `ready = ms from the same spawn until the shim answers Connect over ttrpc (median of ${STARTS} creates and ${STARTS} starts per round, --quick ${QUICK_STARTS}); ` +
    `rss/pss = MiB of the shim of one running container (ctr run -d ${IMAGE} … sleep 1000), median of 3 samples after 1 s`,
  metrics: [
    { key: 'create', unit: 'ms', better: 'lower' },
    { key: 'start', unit: 'ms', better: 'lower' },
    { key: 'ready', unit: 'ms', better: 'lower' },
    { key: 'rss', unit: 'MiB', better: 'lower' },
    { key: 'pss', unit: 'MiB', better: 'lower' },
  ],
  async setup(t, { runId }) {
    await prepareNamespace(t.address, ns(runId));
  },
  async run(t, { quick, round, runId, measure, note }) {
    const namespace = ns(runId);
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-shim-'));
    try {
      // One running container: its shim's memory, and which binary the daemon ran.
      const id = uniqueName(runId, 'shim', round, 'mem');
      await runDetached(t.address, namespace, id);
      const bundle = join(stateDirOf(t.root), TASK_DIR, namespace, id);
      const shimPid = await shimPidOf(stateDirOf(t.root), namespace, id);
      let binary = defaultShim(t);
      try {
        binary = readFileSync(join(bundle, 'shim-binary-path'), 'utf8').trim() || binary;
      } catch {
        /* not written by this daemon */
      }
      await sleep(1000);
      const samples: { rss: number; pss: number }[] = [];
      for (let i = 0; i < 3; i++) {
        if (i > 0) await sleep(250);
        samples.push(shimMemory(shimPid, namespace));
      }
      for (const p of await removeTasks(t.address, namespace)) note(p);
      if (round === 0) note(`shim binary ${binary}`);

      const n = quick ? QUICK_STARTS : STARTS;
      const tasks = await tasksClient(t);
      const creates: number[] = [];
      try {
        await createOnce(t, tasks, namespace, uniqueName(runId, 'shimcw', round, 0)); // warm-up
        await measure('Tasks.Create', async () => {
          for (let i = 0; i < n; i++) creates.push(await createOnce(t, tasks, namespace, uniqueName(runId, 'shimc', round, i)));
        });
      } finally {
        tasks.close();
      }

      const starts: { start: number; ready: number }[] = [];
      await startOnce(t, binary, dir, namespace, uniqueName(runId, 'shimw', round, 0)); // warm-up (page cache)
      await measure('shim start', async () => {
        for (let i = 0; i < n; i++) starts.push(await startOnce(t, binary, dir, namespace, uniqueName(runId, 'shims', round, i)));
      });
      return {
        create: median(creates),
        start: median(starts.map((s) => s.start)),
        ready: median(starts.map((s) => s.ready)),
        rss: median(samples.map((s) => s.rss)) / 1024,
        pss: median(samples.map((s) => s.pss)) / 1024,
      };
    } finally {
      for (const p of await removeTasks(t.address, namespace)) note(p);
      rmSync(dir, { recursive: true, force: true });
    }
  },
  async teardown(t, { runId }) {
    warn('tasks.shim', t.side, await removeNamespace(t.address, ns(runId)));
  },
};

export default bench;
