/**
 * Per-process CPU time from /proc, to tell which process a benchmark's time goes to.
 *
 * A daemon's processes are its root process and all its descendants (containerd: `containerd`;
 * Flotilla: the `flotilla up` supervisor, nats-server and one node process per service), named from
 * their command lines. The bench process itself is reported as `bench client` (its own user+system
 * time) and `bench children` (CPU of children it spawned and already reaped, i.e. `ctr` runs).
 * Each figure is user+system time (utime+stime of /proc/<pid>/stat; for the children,
 * cutime+cstime of the bench process), so kernel work done on a process's behalf (overlayfs,
 * page cache copies, socket I/O) counts for that process. Resolution is one clock tick (10 ms).
 * `machine busy` is the busy time of all CPUs (/proc/stat): what it has beyond the processes above
 * is other work on the machine (other processes, kernel threads such as ext4 writeback);
 * `machine iowait` is idle CPU time with disk I/O outstanding (a disk-bound section, ours or not).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Name used for the bench process's own CPU time. */
export const CLIENT = 'bench client';
/** Name used for the CPU time of reaped children of the bench process (ctr). */
export const CHILDREN = 'bench children';
/** Name used for the busy CPU time of the whole machine (all CPUs, from /proc/stat), to see interference. */
export const MACHINE = 'machine busy';
/** Name used for the iowait time of the whole machine (idle CPUs with disk I/O outstanding). */
export const IOWAIT = 'machine iowait';

/** Busy (not idle, not iowait) and iowait CPU ms of all CPUs together since boot. */
function machineTimes(): { busy: number; iowait: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const busy = f.slice(0, 8).reduce((a, v) => a + v, 0) - f[3] - f[4];
    return { busy: (busy * 1000) / hz(), iowait: (f[4] * 1000) / hz() };
  } catch {
    return undefined;
  }
}

let ticksPerSecond: number | undefined;
function hz(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    ticksPerSecond = r.status === 0 && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/** utime, stime, cutime, cstime (ms) and ppid of a process, or undefined if it is gone. */
function stat(pid: number): { ppid: number; self: number; children: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: fields start after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): ppid = field 4, utime..cstime = fields 14..17.
  const tick = 1000 / hz();
  return { ppid: Number(f[1]), self: (Number(f[11]) + Number(f[12])) * tick, children: (Number(f[13]) + Number(f[14])) * tick };
}

/** All descendants of `root` (not `root` itself). */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!Number.isInteger(pid)) continue;
    const s = stat(pid);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(pid);
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** A readable name of a process: `metadata` for services/metadata/dist/main.js, else the program's base name. */
export function processName(pid: number): string {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return `pid ${pid}`;
  }
  const service = argv.map((a) => /services\/([^/]+)\/dist\/main\.js$/.exec(a)?.[1]).find(Boolean);
  if (service) return service;
  if (argv.some((a) => a.endsWith('bin/flotilla'))) return 'flotilla supervisor';
  return (argv[0] ?? `pid ${pid}`).split('/').pop()!;
}

/** CPU milliseconds by process name (processes of one name are summed). */
export type CpuSample = Record<string, number>;

/** CPU time so far of `root`, its descendants, and the bench process (client and reaped children). */
export function sampleCpu(root: number): CpuSample {
  const out: CpuSample = {};
  for (const pid of [root, ...descendants(root)]) {
    const s = stat(pid);
    if (!s) continue;
    const name = processName(pid);
    out[name] = (out[name] ?? 0) + s.self;
  }
  const me = stat(process.pid);
  if (me) {
    out[CLIENT] = me.self;
    out[CHILDREN] = me.children;
  }
  const m = machineTimes();
  if (m) {
    out[MACHINE] = m.busy;
    out[IOWAIT] = m.iowait;
  }
  return out;
}

/** CPU ms spent between two samples, by name (a process that went away counts as 0). */
export function cpuDelta(before: CpuSample, after: CpuSample): CpuSample {
  const out: CpuSample = {};
  for (const [name, ms] of Object.entries(after)) out[name] = Math.max(0, ms - (before[name] ?? 0));
  return out;
}
