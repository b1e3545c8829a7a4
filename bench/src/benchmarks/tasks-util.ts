/**
 * Helpers of the task benchmarks (`tasks.*`) and of the soak (`soak.ts`): the busybox test image
 * imported into a namespace of the benchmark's own, timed `ctr run`, the shims of a daemon and the
 * memory of its processes, and removing whatever a run left (tasks, containers, the image, the
 * namespace, its cgroups).
 *
 * Namespaces: ctr puts a container in cgroup `/<namespace>/<id>` of every hierarchy, shared by
 * every daemon on the machine, so each benchmark uses `bench-<tag>-<runId>` and removes the
 * `/sys/fs/cgroup/<hierarchy>/<namespace>` parents at the end (runc removes the `<id>` children).
 *
 * Shims are found two ways: by command line (every shim containerd or Flotilla starts gets
 * `-address <the daemon's gRPC socket>`, the long-lived one has no trailing `start`/`delete`), and,
 * for one task, by asking the shim itself: `Connect` over ttrpc on the address in the task's
 * bundle returns the shim's pid (whatever the shim's process looks like).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SHIM_PROTO, loadRoot } from '@flotilla/protos';
import { BUSYBOX_IMAGE_NAME, buildBusyboxImage, ctr, processRuns, writeOciArchive } from '@flotilla/testkit';
import { NAMESPACE_METADATA_KEY, TtrpcClient, ttrpcClient } from '@flotilla/ttrpc';
import { descendants, processName } from '../cpu.js';
import { runCount, sleep } from '../load.js';

/** The image every task benchmark runs (testkit's busybox-static image). */
export const IMAGE = BUSYBOX_IMAGE_NAME;
/** The runtime v2 task directory under a daemon's state and root. */
export const TASK_DIR = 'io.containerd.runtime.v2.task';
/** Deadline of one ctr invocation in the task benchmarks. */
export const CTR_TIMEOUT_MS = 60_000;
/** How long shims get to exit after their task was deleted before it counts as left behind. */
export const SHIM_EXIT_WAIT_MS = 10_000;

/** Where a daemon of the harness keeps its state: both testkit fixtures use `<dir>/root` and `<dir>/state`. */
export function stateDirOf(root: string): string {
  return join(dirname(root), 'state');
}

/** The namespace of one task benchmark in one harness run (a valid containerd identifier). */
export function taskNamespace(runId: string, tag: string): string {
  return `bench-${tag}-${runId}`;
}

let archive: Promise<string> | undefined;
/** testkit's busybox image as an OCI archive, built once per process into a temp dir removed at exit. */
export function busyboxArchive(): Promise<string> {
  return (archive ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-busybox-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'busybox.tar');
    await writeOciArchive(await buildBusyboxImage(), file);
    return file;
  })());
}

/** Creates namespace `ns` by importing the busybox image into it (untimed). */
export async function prepareNamespace(address: string, ns: string): Promise<void> {
  const r = await ctr(address, ['images', 'import', await busyboxArchive()], { namespace: ns, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`ctr -n ${ns} images import exited ${r.code}: ${r.stderr.trim()}`);
}

/** One timed ctr invocation: wall ms from spawn to exit. */
export interface TimedCtr {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ctr -a address -n ns ARGS` and times it (spawn to exit). */
export async function timedCtr(address: string, ns: string, args: string[], timeoutMs = CTR_TIMEOUT_MS): Promise<TimedCtr> {
  const t0 = performance.now();
  const r = await ctr(address, args, { namespace: ns, timeoutMs });
  return { ms: performance.now() - t0, ...r };
}

/** `ctr run --rm IMAGE id true`, timed; throws unless it exits 0. */
export async function runRm(address: string, ns: string, id: string): Promise<number> {
  const r = await timedCtr(address, ns, ['run', '--rm', IMAGE, id, 'true']);
  if (r.code !== 0) throw new Error(`ctr -n ${ns} run --rm ${IMAGE} ${id} true exited ${r.code}: ${r.stderr.trim()}`);
  return r.ms;
}

/** `ctr run -d IMAGE id sleep 1000`; throws unless it exits 0. */
export async function runDetached(address: string, ns: string, id: string): Promise<void> {
  const r = await timedCtr(address, ns, ['run', '-d', IMAGE, id, 'sleep', '1000']);
  if (r.code !== 0) throw new Error(`ctr -n ${ns} run -d ${IMAGE} ${id} sleep 1000 exited ${r.code}: ${r.stderr.trim()}`);
}

// --- processes --------------------------------------------------------------------------------

/**
 * The command line of `pid` as words, or undefined if it is gone. Split at NULs and at spaces too:
 * a process that rewrote its title (Node's `process.title`, as Flotilla's warm shims do once they
 * have a task) shows one string with spaces.
 */
export function argvOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]+/).filter(Boolean);
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs (a zombie counts as gone): testkit's check. */
export const running = processRuns;

/** Every pid on the machine. */
export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** The value after flag `name` in `argv` (Go flags: `-name value`). */
function flagValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** The kind of shim process `argv` is for the daemon at `address`, if it is one. */
export function shimKind(argv: readonly string[], address: string): 'task' | 'warm' | 'action' | undefined {
  if (flagValue(argv, '-address') !== address) return undefined;
  const last = argv[argv.length - 1];
  if (last === 'start' || last === 'delete') return 'action';
  // Flotilla's warm shims (`… -address A warm`) serve no task until the runtime hands them one.
  if (last === 'warm' && flagValue(argv, '-id') === undefined) return 'warm';
  return 'task';
}

/**
 * The long-lived shims serving tasks of the daemon at `address` (`-address <address>` on their
 * command line, no `start`/`delete` action, not an idle warm shim), optionally only those of
 * namespace `ns`.
 */
export function shimsByCommandLine(address: string, ns?: string, kind: 'task' | 'warm' = 'task'): number[] {
  const out: number[] = [];
  for (const pid of allPids()) {
    const argv = argvOf(pid);
    if (!argv || shimKind(argv, address) !== kind) continue;
    if (ns !== undefined && flagValue(argv, '-namespace') !== ns) continue;
    if (running(pid)) out.push(pid);
  }
  return out;
}

/** Waits until no shim of `ns` serves `address`; returns the pids still there after `ms`. */
export async function waitShimsGone(address: string, ns: string, ms = SHIM_EXIT_WAIT_MS): Promise<number[]> {
  const until = Date.now() + ms;
  let left = shimsByCommandLine(address, ns);
  while (left.length > 0 && Date.now() < until) {
    await sleep(50);
    left = shimsByCommandLine(address, ns);
  }
  return left;
}

/** Resident memory of one process, KiB: VmRSS (/proc/<pid>/status) and Pss (/proc/<pid>/smaps_rollup). */
export interface Memory {
  rss: number;
  pss: number;
}

/** The memory of `pid` (undefined if it is gone). */
export function memoryOf(pid: number): Memory | undefined {
  try {
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const pss = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    if (!rss || !pss) return undefined;
    return { rss: Number(rss[1]), pss: Number(pss[1]) };
  } catch {
    return undefined;
  }
}

/** Open descriptors of `pid` (entries of /proc/<pid>/fd), or -1 if it is gone. */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** One process of a daemon with its memory. */
export interface DaemonProcess {
  pid: number;
  /** `containerd`, `flotilla supervisor`, `nats-server`, a service name, or `shim`. */
  name: string;
  memory: Memory;
}

/** Whether `pid` is in a container's cgroup `/<ns>/…` (any hierarchy). */
export function inNamespaceCgroup(pid: number, ns: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .some((l) => l.slice(l.indexOf(':', l.indexOf(':') + 1) + 1).startsWith(`/${ns}/`));
  } catch {
    return false;
  }
}

/**
 * Every process of the daemon at `address` whose top process is `root`: `root` and its descendants,
 * plus its shims, task and warm (found by command line; they may be re-parented away from the
 * daemon) and their descendants, but not the containers (processes in a cgroup `/<ns>/…` of one of
 * `namespaces`).
 */
export function daemonProcesses(root: number, address: string, namespaces: readonly string[]): DaemonProcess[] {
  const shims = [...shimsByCommandLine(address), ...shimsByCommandLine(address, undefined, 'warm')];
  const pids = new Set([root, ...descendants(root), ...shims, ...shims.flatMap((s) => descendants(s))]);
  const out: DaemonProcess[] = [];
  for (const pid of pids) {
    if (namespaces.some((ns) => inNamespaceCgroup(pid, ns))) continue;
    const memory = memoryOf(pid);
    if (!memory) continue;
    const kind = shimKind(argvOf(pid) ?? [], address);
    out.push({ pid, name: kind === 'task' ? 'shim' : kind === 'warm' ? 'warm shim' : processName(pid), memory });
  }
  return out;
}

/** The sum of each memory figure over `ps`, in MiB. */
export function totalMiB(ps: readonly DaemonProcess[]): { rss: number; pss: number } {
  return {
    rss: ps.reduce((a, p) => a + p.memory.rss, 0) / 1024,
    pss: ps.reduce((a, p) => a + p.memory.pss, 0) / 1024,
  };
}

/** `name n×: rss/pss MiB` per process name, largest PSS first (for notes). */
export function breakdown(ps: readonly DaemonProcess[]): string {
  const by = new Map<string, { n: number; rss: number; pss: number }>();
  for (const p of ps) {
    const e = by.get(p.name) ?? { n: 0, rss: 0, pss: 0 };
    e.n++;
    e.rss += p.memory.rss / 1024;
    e.pss += p.memory.pss / 1024;
    by.set(p.name, e);
  }
  return [...by.entries()]
    .sort((a, b) => b[1].pss - a[1].pss)
    .map(([name, e]) => `${name}${e.n > 1 ? ` ×${e.n}` : ''} ${e.rss.toFixed(1)}/${e.pss.toFixed(1)}`)
    .join(', ');
}

// --- shims over ttrpc -------------------------------------------------------------------------

let shimRoot: ReturnType<typeof loadRoot> | undefined;

/** A ttrpc connection to a shim at `address` (`unix://…` or a path), `containerd.task.v2.Task`. */
export async function shimApi(address: string, ns: string, timeoutMs = 10_000) {
  shimRoot ??= loadRoot([SHIM_PROTO]);
  const client = await TtrpcClient.connect(address, { timeoutMs });
  const api = ttrpcClient(shimRoot, 'containerd.task.v2.Task', client);
  const opts = { metadata: { [NAMESPACE_METADATA_KEY]: ns }, timeoutMs };
  return {
    connect: (id: string) => api.call<{ shim_pid: number; task_pid: number }>('Connect', { id }, opts),
    shutdown: (id: string) => api.call('Shutdown', { id, now: true }, opts),
    close: () => client.close(),
  };
}

/** The pid of the shim serving task `id` (asked over ttrpc on the address in its bundle). */
export async function shimPidOf(stateDir: string, ns: string, id: string): Promise<number> {
  const address = readFileSync(join(stateDir, TASK_DIR, ns, id, 'address'), 'utf8').trim();
  const api = await shimApi(address, ns);
  try {
    return (await api.connect(id)).shim_pid;
  } finally {
    api.close();
  }
}

// --- cleanup ------------------------------------------------------------------------------------

/** Lines of a `ctr … ls -q`. */
async function ids(address: string, ns: string, what: 'tasks' | 'containers'): Promise<string[]> {
  const r = await ctr(address, [what, 'ls', '-q'], { namespace: ns });
  return r.code === 0 ? r.stdout.split('\n').map((s) => s.trim()).filter(Boolean) : [];
}

/**
 * Removes every task (`ctr task rm -f`: SIGKILL, then delete) and container (`ctr c rm`, with its
 * snapshot) of `ns`, then waits for the namespace's shims to exit. Returns what went wrong
 * (nothing when all is clean); never throws.
 */
export async function removeTasks(address: string, ns: string): Promise<string[]> {
  const problems: string[] = [];
  try {
    const tasks = await ids(address, ns, 'tasks');
    await runCount(tasks.length, 4, async (i) => {
      const r = await ctr(address, ['tasks', 'rm', '-f', tasks[i]], { namespace: ns, timeoutMs: CTR_TIMEOUT_MS });
      if (r.code !== 0) problems.push(`ctr task rm -f ${tasks[i]}: ${r.stderr.trim()}`);
    });
    const containers = await ids(address, ns, 'containers');
    await runCount(containers.length, 4, async (i) => {
      const r = await ctr(address, ['containers', 'rm', containers[i]], { namespace: ns, timeoutMs: CTR_TIMEOUT_MS });
      if (r.code !== 0) problems.push(`ctr c rm ${containers[i]}: ${r.stderr.trim()}`);
    });
  } catch (err) {
    problems.push(`removing tasks and containers: ${(err as Error)?.message ?? err}`);
  }
  const shims = await waitShimsGone(address, ns);
  if (shims.length > 0) {
    problems.push(`${shims.length} shim(s) still running ${SHIM_EXIT_WAIT_MS / 1000} s after their tasks were deleted (pids ${shims.join(' ')}); killed`);
    for (const pid of shims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  return problems;
}

/** The cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, `unified`, or just the v2 root). */
function cgroupRoots(): string[] {
  const base = '/sys/fs/cgroup';
  if (existsSync(join(base, 'cgroup.controllers'))) return [base];
  try {
    return readdirSync(base).map((h) => join(base, h));
  } catch {
    return [];
  }
}

/** Child cgroups left under `/<ns>` in any hierarchy (containers whose cgroup runc did not remove). */
export function cgroupsLeft(ns: string): string[] {
  const out: string[] = [];
  for (const root of cgroupRoots()) {
    const dir = join(root, ns);
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(join(dir, e.name));
    } catch {
      /* no such cgroup */
    }
  }
  return out;
}

/** Removes the `/<ns>` cgroups (empty ones only); returns those that could not be removed. */
export function removeNamespaceCgroups(ns: string): string[] {
  const left: string[] = [];
  for (const root of cgroupRoots()) {
    const dir = join(root, ns);
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(`${dir} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  return left;
}

/**
 * Everything a task benchmark made in `ns`: tasks, containers, the image (`rm --sync`), the
 * namespace, its cgroups. Returns what could not be removed; never throws.
 */
export async function removeNamespace(address: string, ns: string): Promise<string[]> {
  const problems = await removeTasks(address, ns);
  const rm = await ctr(address, ['images', 'rm', '--sync', IMAGE], { namespace: ns, timeoutMs: 120_000 }).catch((err: Error) => ({ code: 1, stdout: '', stderr: err.message }));
  if (rm.code !== 0 && !/not found/i.test(rm.stderr)) problems.push(`ctr images rm --sync: ${rm.stderr.trim()}`);
  const nsRm = await ctr(address, ['namespaces', 'rm', ns]).catch((err: Error) => ({ code: 1, stdout: '', stderr: err.message }));
  if (nsRm.code !== 0) problems.push(`ctr namespaces rm ${ns}: ${nsRm.stderr.trim()}`);
  const cg = removeNamespaceCgroups(ns);
  if (cg.length > 0) problems.push(`cgroups not removed: ${cg.join(', ')}`);
  return problems;
}

/** Prints a warning of a teardown (which has no `note`) on stderr. */
export function warn(bench: string, side: string, problems: readonly string[]): void {
  for (const p of problems) process.stderr.write(`bench: warning: ${bench} on ${side}: ${p}\n`);
}

/** `mkfifo(1)` (Node has no mkfifo). */
export function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', ['-m', '0600', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfifo ${path}: ${r.stderr.trim()}`);
}

/** Runs a program to completion, collecting its output (for the shim's `start`). */
export function runProgram(
  file: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // detached, as the runtime starts shims: `start` daemonizes its child in a new session.
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end();
  });
}
