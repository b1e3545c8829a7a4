/**
 * A container's cgroup (v1) from the shim's side: its paths, its statistics for the Stats RPC, and
 * OOM notifications (`/tasks/oom`).
 *
 * - Paths: read once from /proc/<init pid>/cgroup when the task is created, so they are still
 *   known after the init has exited.
 * - Stats: the files containerd's `cgroups.v1` reads for cpu (cpuacct + cpu), memory, blkio and pids,
 *   as an `io.containerd.cgroups.v1.Metrics` message (plain object; uint64 values as strings).
 *   Controllers whose files are missing are skipped (containerd's `IgnoreNotExist`).
 * - OOM: cgroup v1's `memory.oom_control` notification — an eventfd registered through
 *   `cgroup.event_control` — watched by one poll(2) over all containers on a threadpool thread,
 *   woken by a private eventfd when the set changes (containerd `pkg/oom/v1`). The eventfd also
 *   fires when the cgroup is removed; that is not an OOM.
 */
import { existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@flotilla/log';
import type { Sys } from '@flotilla/sys';
import { cgroupMounts, processCgroups, type CgroupMounts } from './cgroup-paths.js';
import { closeFd } from './pipe.js';

/** USER_HZ: cpuacct.stat counts in these ticks (containerd's cgroups assumes 100). */
const CLOCK_TICKS = 100n;
const NS_PER_SECOND = 1_000_000_000n;

/** A container's cgroup directory per v1 controller. */
export type CgroupDirs = Map<string, string>;

/** The cgroup directories of `pid` (v1 controllers that are mounted). */
export function cgroupDirsOf(pid: number, mounts: CgroupMounts = cgroupMounts()): CgroupDirs {
  const dirs: CgroupDirs = new Map();
  for (const [controller, path] of processCgroups(pid)) {
    const mountPoint = mounts.v1.get(controller);
    if (controller && mountPoint) dirs.set(controller, join(mountPoint, path));
  }
  return dirs;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function readUint(path: string): string | undefined {
  const t = readText(path);
  if (t === undefined) return undefined;
  return BigInt(t.trim()).toString();
}

/** `key value` lines (memory.stat, cpu.stat, memory.oom_control). */
function readKeyValues(path: string): Map<string, string> | undefined {
  const t = readText(path);
  if (t === undefined) return undefined;
  const out = new Map<string, string>();
  for (const line of t.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out.set(k, BigInt(v).toString());
  }
  return out;
}

const MEMORY_STAT_FIELDS: [string, string][] = [
  ['cache', 'cache'],
  ['rss', 'rss'],
  ['rss_huge', 'rss_huge'],
  ['mapped_file', 'mapped_file'],
  ['dirty', 'dirty'],
  ['writeback', 'writeback'],
  ['pg_pg_in', 'pgpgin'],
  ['pg_pg_out', 'pgpgout'],
  ['pg_fault', 'pgfault'],
  ['pg_maj_fault', 'pgmajfault'],
  ['inactive_anon', 'inactive_anon'],
  ['active_anon', 'active_anon'],
  ['inactive_file', 'inactive_file'],
  ['active_file', 'active_file'],
  ['unevictable', 'unevictable'],
  ['hierarchical_memory_limit', 'hierarchical_memory_limit'],
  ['hierarchical_swap_limit', 'hierarchical_memsw_limit'],
  ['total_cache', 'total_cache'],
  ['total_rss', 'total_rss'],
  ['total_rss_huge', 'total_rss_huge'],
  ['total_mapped_file', 'total_mapped_file'],
  ['total_dirty', 'total_dirty'],
  ['total_writeback', 'total_writeback'],
  ['total_pg_pg_in', 'total_pgpgin'],
  ['total_pg_pg_out', 'total_pgpgout'],
  ['total_pg_fault', 'total_pgfault'],
  ['total_pg_maj_fault', 'total_pgmajfault'],
  ['total_inactive_anon', 'total_inactive_anon'],
  ['total_active_anon', 'total_active_anon'],
  ['total_inactive_file', 'total_inactive_file'],
  ['total_active_file', 'total_active_file'],
  ['total_unevictable', 'total_unevictable'],
];

function memoryEntry(dir: string, module: string): Record<string, string> | undefined {
  const prefix = module ? `memory.${module}.` : 'memory.';
  const usage = readUint(join(dir, `${prefix}usage_in_bytes`));
  if (usage === undefined) return undefined; // e.g. no swap accounting
  return {
    usage,
    max: readUint(join(dir, `${prefix}max_usage_in_bytes`)) ?? '0',
    failcnt: readUint(join(dir, `${prefix}failcnt`)) ?? '0',
    limit: readUint(join(dir, `${prefix}limit_in_bytes`)) ?? '0',
  };
}

/** Block devices by `major:minor` from /proc/partitions (`/dev/<name>`; the first name wins). */
function blockDevices(): Map<string, string> {
  const out = new Map<string, string>();
  const text = readText('/proc/partitions') ?? '';
  for (const line of text.split('\n').slice(2)) {
    const [major, minor, , name] = line.trim().split(/\s+/);
    if (!name) continue;
    const key = `${major}:${minor}`;
    if (!out.has(key)) out.set(key, `/dev/${name}`);
  }
  return out;
}

/**
 * The entries of one `blkio.<name>` file (`major:minor [op] value` lines; the `Total` line is
 * skipped), or undefined when the file is missing or unreadable (containerd then stops reading
 * blkio: `IgnoreNotExist`).
 */
function blkioEntries(dir: string, name: string, devices: Map<string, string>): Record<string, string>[] | undefined {
  const text = readText(join(dir, `blkio.${name}`));
  if (text === undefined) return undefined;
  const out: Record<string, string>[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(/[ :]/).filter(Boolean);
    if (f.length < 3) {
      if (f.length === 0 || (f.length === 2 && f[0] === 'Total')) continue;
      return undefined;
    }
    const [op, value] = f.length === 4 ? [f[2]!, f[3]!] : ['', f[2]!];
    try {
      out.push({ op, device: devices.get(`${f[0]}:${f[1]}`) ?? '', major: BigInt(f[0]!).toString(), minor: BigInt(f[1]!).toString(), value: BigInt(value).toString() });
    } catch {
      return undefined;
    }
  }
  return out;
}

/** CFQ statistics (containerd's first choice) and the throttle fallback: file → BlkIOStat field. */
const BLKIO_CFQ: [string, string][] = [
  ['sectors_recursive', 'sectors_recursive'],
  ['io_service_bytes_recursive', 'io_service_bytes_recursive'],
  ['io_serviced_recursive', 'io_serviced_recursive'],
  ['io_queued_recursive', 'io_queued_recursive'],
  ['io_service_time_recursive', 'io_service_time_recursive'],
  ['io_wait_time_recursive', 'io_wait_time_recursive'],
  ['io_merged_recursive', 'io_merged_recursive'],
  ['time_recursive', 'io_time_recursive'],
];
const BLKIO_THROTTLE: [string, string][] = [
  ['throttle.io_serviced', 'io_serviced_recursive'],
  ['throttle.io_service_bytes', 'io_service_bytes_recursive'],
];

/** containerd's blkio statistics: CFQ files when the kernel has them and they say something, else throttle.*. */
function blkioStat(dir: string): Record<string, Record<string, string>[]> {
  const stat: Record<string, Record<string, string>[]> = {};
  const devices = blockDevices();
  const read = (files: [string, string][]): boolean => {
    for (const [file, field] of files) {
      const entries = blkioEntries(dir, file, devices);
      if (!entries) return false;
      stat[field] = [...(stat[field] ?? []), ...entries];
    }
    return true;
  };
  if (existsSync(join(dir, 'blkio.io_serviced_recursive'))) {
    if (!read(BLKIO_CFQ)) return stat;
    if (Object.values(stat).some((e) => e.length > 0)) return stat;
  }
  read(BLKIO_THROTTLE);
  return stat;
}

/** The cgroup v1 statistics of a container (an `io.containerd.cgroups.v1.Metrics` object). */
export function cgroupStats(dirs: CgroupDirs): Record<string, unknown> {
  const metrics: Record<string, unknown> = {};
  const pidsDir = dirs.get('pids');
  if (pidsDir) {
    const current = readUint(join(pidsDir, 'pids.current'));
    const max = readText(join(pidsDir, 'pids.max'))?.trim();
    if (current !== undefined) metrics.pids = { current, limit: max === undefined || max === 'max' ? '0' : BigInt(max).toString() };
  }
  const cpu: Record<string, unknown> = {};
  const acct = dirs.get('cpuacct');
  if (acct) {
    const stat = readText(join(acct, 'cpuacct.stat'));
    const total = readUint(join(acct, 'cpuacct.usage'));
    const percpu = readText(join(acct, 'cpuacct.usage_percpu'));
    if (stat !== undefined && total !== undefined && percpu !== undefined) {
      const f = stat.trim().split(/\s+/);
      const ticks = (name: string) => {
        const i = f.indexOf(name);
        return i >= 0 ? BigInt(f[i + 1]!) : 0n;
      };
      cpu.usage = {
        total,
        user: ((ticks('user') * NS_PER_SECOND) / CLOCK_TICKS).toString(),
        kernel: ((ticks('system') * NS_PER_SECOND) / CLOCK_TICKS).toString(),
        per_cpu: percpu.trim().split(/\s+/).filter(Boolean).map((v) => BigInt(v).toString()),
      };
    }
  }
  const cpuDir = dirs.get('cpu');
  if (cpuDir) {
    const kv = readKeyValues(join(cpuDir, 'cpu.stat'));
    if (kv) {
      cpu.throttling = {
        periods: kv.get('nr_periods') ?? '0',
        throttled_periods: kv.get('nr_throttled') ?? '0',
        throttled_time: kv.get('throttled_time') ?? '0',
      };
    }
  }
  if (Object.keys(cpu).length > 0) metrics.cpu = cpu;
  const blkio = dirs.get('blkio');
  if (blkio) metrics.blkio = blkioStat(blkio);
  const mem = dirs.get('memory');
  if (mem) {
    const raw = readKeyValues(join(mem, 'memory.stat'));
    if (raw) {
      const memory: Record<string, unknown> = {};
      for (const [field, key] of MEMORY_STAT_FIELDS) memory[field] = raw.get(key) ?? '0';
      const entries: [string, string][] = [
        ['usage', ''],
        ['swap', 'memsw'],
        ['kernel', 'kmem'],
        ['kernel_tcp', 'kmem.tcp'],
      ];
      for (const [field, module] of entries) {
        const e = memoryEntry(mem, module);
        if (e) memory[field] = e;
      }
      metrics.memory = memory;
      const oom = readKeyValues(join(mem, 'memory.oom_control'));
      if (oom) {
        metrics.memory_oom_control = {
          oom_kill_disable: oom.get('oom_kill_disable') ?? '0',
          under_oom: oom.get('under_oom') ?? '0',
          oom_kill: oom.get('oom_kill') ?? '0',
        };
      }
    }
  }
  return metrics;
}

interface OomEntry {
  id: string;
  dir: string;
  efd: number;
  controlFd: number;
}

/** Watches containers' memory cgroups for OOM kills; see the file comment. */
export class OomWatcher {
  private readonly entries = new Map<string, OomEntry>();
  private readonly retired: OomEntry[] = [];
  private wake: number | undefined;
  private looping = false;
  private stopped = false;

  constructor(
    private readonly sys: Sys,
    private readonly onOom: (containerId: string) => void,
    private readonly log: Logger,
  ) {}

  /** Starts watching the memory cgroup `dir` of container `id` (failures are logged only). */
  add(id: string, dir: string): void {
    if (this.stopped || this.entries.has(id)) return;
    let controlFd: number | undefined;
    let efd: number | undefined;
    try {
      controlFd = openSync(join(dir, 'memory.oom_control'), 'r');
      efd = this.sys.eventfd();
      writeFileSync(join(dir, 'cgroup.event_control'), `${efd} ${controlFd}`);
    } catch (err) {
      closeFd(controlFd);
      if (efd !== undefined) closeFd(efd);
      this.log.warn({ id, err: (err as Error).message }, 'add cgroup to OOM monitor');
      return;
    }
    this.entries.set(id, { id, dir, efd, controlFd });
    this.kick();
  }

  /** Stops watching container `id`. */
  remove(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    this.retired.push(e);
    this.kick();
  }

  /** Stops watching everything. */
  stop(): void {
    this.stopped = true;
    for (const id of [...this.entries.keys()]) this.remove(id);
  }

  private kick(): void {
    if (this.looping) {
      if (this.wake !== undefined) this.sys.signalEventfd(this.wake);
      return;
    }
    if (this.entries.size === 0) {
      this.closeRetired();
      return;
    }
    void this.loop();
  }

  private closeRetired(): void {
    for (const e of this.retired.splice(0)) {
      closeFd(e.efd);
      closeFd(e.controlFd);
    }
  }

  private drain(fd: number): boolean {
    try {
      return readSync(fd, Buffer.alloc(8)) === 8;
    } catch {
      return false; // EAGAIN: nothing there
    }
  }

  private async loop(): Promise<void> {
    this.looping = true;
    this.wake ??= this.sys.eventfd();
    try {
      while (!this.stopped && this.entries.size > 0) {
        // Descriptors are only closed while no poll runs, so a number is never reused under one.
        this.closeRetired();
        const list = [...this.entries.values()];
        const ready = await this.sys.pollReadable([this.wake, ...list.map((e) => e.efd)], -1);
        if (ready[0]) this.drain(this.wake);
        list.forEach((e, i) => {
          if (!ready[i + 1] || !this.drain(e.efd)) return;
          if (!existsSync(e.dir)) {
            this.remove(e.id); // the cgroup went away
            return;
          }
          if (this.entries.get(e.id) === e) this.onOom(e.id);
        });
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'OOM monitor failed');
    } finally {
      this.looping = false;
      this.closeRetired();
      if (this.wake !== undefined) {
        closeFd(this.wake);
        this.wake = undefined;
      }
      if (!this.stopped && this.entries.size > 0) void this.loop();
    }
  }
}
